"""``evaluate.metrics`` settings: weights, devices and per-metric options of the ``eval`` suite.

They are typed here, in the library, so ``params.yaml`` is fully validated on load without importing ``eval``
(the library never imports it); ``eval/schema.py`` re-exports them and the metric modules read them.
Pydantic and stdlib only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from portraittalker.data.config import SyncOffsetConfig

FEATURE_DIM = 2048  # pool3, the features of the published FIDs
DIMS = (64, 192, 768, 2048)  # pytorch-fid --dims (InceptionV3.BLOCK_INDEX_BY_DIM)


class FIDConfig(BaseModel):
    dims: Literal[64, 192, 768, 2048] = Field(FEATURE_DIM, description="pytorch-fid --dims; 2048 = pool3 (the papers)")
    crop: str = Field("full", pattern="^(full|face)$", description="full frame or MediaPipe face crop")
    face_crop_scale: float = Field(1.4, gt=0, description="face crop side = scale x max(box w, h)")
    frame_stride: int = Field(1, ge=1, description="use every n-th frame")
    max_frames_per_video: int = Field(0, ge=0, description="0 = all sampled frames")
    batch_size: int = Field(16, ge=1)
    kid_subset_size: int = Field(1000, ge=2)
    kid_subsets: int = Field(100, ge=1)


class LSEConfig(BaseModel):
    """syncnet-python ``PipelineConfig`` settings (its defaults; joonson's run_pipeline.py uses min_track 100)."""

    vshift: int = Field(15, ge=1, description="offsets searched: -vshift..+vshift frames")
    batch_size: int = Field(20, ge=1, description="windows per SyncNet forward pass")
    crop_scale: float = Field(0.4, ge=0, description="run_pipeline --crop_scale")
    facedet_scale: float = Field(0.25, gt=0, description="S3FD runs on frames scaled by this")
    min_track: int = Field(50, ge=10, description="face tracks need more than this many frames")
    min_face_size: int = Field(100, ge=1, description="tracks with a smaller mean face box (px) are dropped")
    num_failed_det: int = Field(25, ge=1, description="frames a track may go without a detection")


class LandmarkConfig(BaseModel):
    adfd_sigma: float = Field(0.1, gt=0, description="ADFD: alignment term exp(-d / sigma), d in inter-ocular units")
    adfd_mouth_weight: float = Field(1.0, ge=0, description="ADFD: extra weight of the 20 mouth points")
    blink_ratio: float = Field(0.6, gt=0, lt=1, description="blink: eye openness below ratio x video median")
    blink_min_gap_frames: int = Field(3, ge=1, description="blink dips closer than this merge into one blink")


class EvalConfig(BaseModel):
    """``evaluate`` section of params.yaml."""

    syncnet_weights: Path | None = Field(None, description="syncnet_v2.model; LSE-C/D unavailable without")
    s3fd_weights: Path | None = Field(None, description="sfd_face.pth (S3FD face detector); LSE-C/D need it too")
    inception_weights: Path | None = Field(None, description="pt_inception-2015-12-05-6726825d.pth; FID/KID")
    clip_model: Path | None = Field(None, description="local CLIP model folder; CLIP-T")
    lpips_backbone_weights: Path | None = Field(None, description="torchvision alexnet-owt-7be5be79.pth; LPIPS")
    lpips_linear_weights: Path | None = Field(None, description="lpips package weights/v0.1/alex.pth; LPIPS")
    device: str = "cpu"
    max_frames: int | None = Field(None, ge=6, description="evaluate only the first N frames of each video")
    # "skipped" = the generate flow found the video up to date: it exists and is scored like a fresh one
    ok_statuses: list[str] = Field(default_factory=lambda: ["ok", "skipped"], description="results rows to evaluate")
    clip_frames: int = Field(8, ge=1)
    report_strip_videos: int = Field(3, ge=0, description="videos shown as frame strips")
    report_plot_videos: int = Field(3, ge=0, description="videos with mouth/speech plots")
    report_embed_max_mb: float = Field(8.0, ge=0, description="embed videos up to this size, else link")
    lse: LSEConfig = Field(default_factory=LSEConfig)
    sync_offset: SyncOffsetConfig = Field(default_factory=SyncOffsetConfig)
    fid: FIDConfig = Field(default_factory=FIDConfig)
    landmarks: LandmarkConfig = Field(default_factory=LandmarkConfig)
