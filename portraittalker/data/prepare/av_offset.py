"""The per-clip A/V-offset check: measure it (:mod:`portraittalker.data.av_sync`), then shift the audio or reject.

See :class:`~portraittalker.data.quality.AVOffsetConfig` for the thresholds; the second, learned check over
the whole dataset is :func:`portraittalker.data.speech_sync.refine_av_offsets`.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
from scipy import signal

from portraittalker.data.av_sync import SAMPLE_RATE as SYNC_SAMPLE_RATE
from portraittalker.data.av_sync import SyncOffsetResult, SyncUnavailable, estimate_av_offset
from portraittalker.data.config import PrepareConfig
from portraittalker.data.normalise import mux_audio, shift_audio
from portraittalker.data.quality import AVOffsetConfig, ClipRejected, check_av_offset
from portraittalker.data.tables import AV_CONFIDENCE_COLUMN, AV_OFFSET_COLUMN, AV_SHIFT_COLUMN
from portraittalker.face.tracking import FaceTrack
from portraittalker.motion.schema import FPS

log = logging.getLogger(__name__)


def measure_av_offset(track: FaceTrack, samples: np.ndarray, sample_rate: int, config: AVOffsetConfig,
                      fps: float = FPS) -> SyncOffsetResult | None:
    """The clip's A/V offset from its tracked mouth opening and audio; ``None`` where it cannot be measured."""
    if track.n_frames < config.min_frames:
        log.info("prepare: A/V offset not measured: %d frames < %d", track.n_frames, config.min_frames)
        return None
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    if sample_rate != SYNC_SAMPLE_RATE:
        divisor = math.gcd(sample_rate, SYNC_SAMPLE_RATE)
        samples = signal.resample_poly(samples, SYNC_SAMPLE_RATE // divisor, sample_rate // divisor)
    try:
        return estimate_av_offset(track.mouth_opening(), samples, config.sync, fps)
    except SyncUnavailable as error:
        log.info("prepare: A/V offset not measured: %s", error)
        return None



def check_clip_av_offset(track: FaceTrack, samples: np.ndarray, rate: int, config: PrepareConfig, row: dict,
                         timings: dict[str, float], video_out: Path, audio_out: Path) -> None:
    """Measure the A/V offset; shift the audio (WAV and the clip's track), reject, or mark the row ``pending``
    for the learned check, per ``config.av_offset``."""
    start = time.perf_counter()
    estimate = measure_av_offset(track, samples, rate, config.av_offset, config.fps)
    if estimate is not None:
        row[AV_OFFSET_COLUMN], row[AV_CONFIDENCE_COLUMN] = float(estimate.offset), estimate.confidence
    shift, problem = check_av_offset(estimate, config.av_offset)
    if problem is not None and problem.status != "pending":
        raise ClipRejected(problem)
    if problem is not None:  # too uncertain here: the learned check over the whole dataset decides
        row["status"], row["reason"] = problem.status, problem.reason
    if shift:
        shift_audio(audio_out, shift, config.fps)
        mux_audio(video_out, audio_out, config.sample_rate)
        row[AV_SHIFT_COLUMN] = shift
    timings["av_offset_s"] = time.perf_counter() - start
