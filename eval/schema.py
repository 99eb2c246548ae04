"""The evaluation suite's types: its settings (typed in the library, :mod:`portraittalker.metrics_config`) and
what it produces per video, shared by :mod:`eval.evaluate` and :mod:`eval.report` without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from portraittalker.metrics_config import (
    DIMS,
    FEATURE_DIM,
    EvalConfig,
    FIDConfig,
    LandmarkConfig,
    LSEConfig,
    SyncOffsetConfig,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DATASET_METRICS", "DIMS", "FEATURE_DIM", "PER_VIDEO_METRICS", "REPORTED_HDTF", "EvalConfig", "FIDConfig",
    "LSEConfig", "LandmarkConfig", "SyncOffsetConfig", "VideoEvaluation", "VideoItem",
]

# Per-video metric columns, with the direction that is better (for the report and regression checks).
PER_VIDEO_METRICS: dict[str, str] = {
    "lse_c": "higher", "lse_d": "lower", "lse_offset": "zero",
    "av_offset_frames": "zero", "av_sync_confidence": "higher",
    "mouth_corr": "higher", "lmd_mouth": "lower", "lmd_face": "lower", "adfd": "higher",
    "jitter": "lower", "blink_rate_per_min": "info", "identity_drift": "lower",
    "psnr": "higher", "ssim": "higher", "lpips": "lower", "clip_t": "higher",
}
DATASET_METRICS = ("fid", "kid", "kid_std")
REPORTED_HDTF = {  # the PortraitTalker paper's HDTF table (reported, not measured here)
    "PortraitTalker": {"lse_c": 7.230, "lse_d": 7.712, "fid": 21.997},
    "MakeItTalk": {"lse_c": 5.051, "lse_d": 9.999, "fid": 28.183},
    "Wang et al.": {"lse_c": 4.872, "lse_d": 9.995, "fid": 22.372},
}


@dataclass
class VideoItem:
    job_id: str
    video_path: Path
    audio_path: Path | None = None
    prompt: str | None = None
    view: str | None = None
    status: str = "ok"
    reference_id: str | None = None


@dataclass
class VideoEvaluation:
    """One generated video's metrics, reasons for the unavailable ones, and series for plots."""

    item: VideoItem
    reference_path: Path | None
    values: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    series: dict[str, np.ndarray] = field(default_factory=dict)
    frames: np.ndarray | None = None  # a few frames for the report strip
    reference_frames: np.ndarray | None = None
