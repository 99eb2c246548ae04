"""Shared pieces of the evaluation suite: errors, "unavailable" results, video/audio access, track cache."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.face.tracking import FaceTrack, FaceTracker

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
FPS = 25
SAMPLE_RATE = 16000


class EvalInputError(PortraitTalkerError, ValueError):
    """An evaluation input (path, table, weights file) is missing or malformed; the message names it."""


class WeightsError(EvalInputError):
    """A user-supplied weights file is missing or does not have the expected format."""


def read_state_dict(path: str | Path, what: str, how_to_get: str) -> dict:
    """A weights file as a state dict via ``torch.load(weights_only=True)`` (no arbitrary unpickling).

    Raises :class:`WeightsError` naming the file: missing (with where to get it), unloadable, or not a dict.
    """
    import torch  # only metrics that need weights pay for the import

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} not found: {path}. To get them, {how_to_get}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(f"{path}: not a {what} state dict loadable with weights_only=True ({error})") from error
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict ({what}), got {type(state).__name__}")
    if not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise WeightsError(f"{path}: expected a dict of tensors ({what}), found non-tensor values")
    return state


def load_into(module: Any, state: dict, path: str | Path, what: str, strict: bool = True) -> None:
    """``module.load_state_dict(state)``; a key or shape mismatch becomes a :class:`WeightsError` naming ``path``."""
    try:
        module.load_state_dict(state, strict=strict)
    except RuntimeError as error:
        message = " ".join(str(error).split())
        raise WeightsError(f"{path}: not {what} ({message[:600]})") from error


class MetricUnavailable(PortraitTalkerError, RuntimeError):  # noqa: N818 - reads as a state, not a failure
    """A metric cannot be computed for a documented reason (missing weights, no face, no reference...).

    Raised by metric functions and caught by :func:`eval.evaluate.evaluate`, which reports the reason
    instead of a number: a missing metric is never estimated.
    """


@dataclass(frozen=True)
class Unavailable:
    """Marker stored in place of a metric value; ``reason`` is shown in the report."""

    reason: str


def read_video_rgb(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """All (or the first ``max_frames``) frames of ``path`` as an (N, H, W, 3) uint8 RGB array."""
    from portraittalker.media.video import read_frames

    path = Path(path)
    if not path.is_file():
        raise EvalInputError(f"video not found: {path}")
    frames = list(read_frames(path, max_frames=max_frames))
    if not frames:
        raise EvalInputError(f"video {path} has no decodable frames")
    return np.stack(frames)


def load_audio_16k(path: str | Path) -> np.ndarray:
    """Mono float32 16 kHz samples of ``path`` (audio file or a video's audio track)."""
    from portraittalker.media.audio import AudioError, load_audio

    try:
        return load_audio(path, sample_rate=SAMPLE_RATE, max_duration_s=None).samples
    except AudioError as error:
        raise MetricUnavailable(f"no usable audio in {path}: {error}") from error


def track_frames(frames: np.ndarray, fps: float = FPS) -> FaceTrack:
    """MediaPipe-track decoded RGB frames (largest face per frame)."""
    with FaceTracker(max_faces=1) as tracker:
        return tracker.track_frames(iter(frames), fps)


def interpolate_nans(values: np.ndarray) -> np.ndarray:
    """Linearly fill NaN entries along axis 0 (edges take the nearest valid value); all-NaN stays NaN."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(len(values), -1).copy()
    index = np.arange(len(values))
    for column in range(flat.shape[1]):
        valid = np.isfinite(flat[:, column])
        if valid.any() and not valid.all():
            flat[:, column] = np.interp(index, index[valid], flat[valid, column])
    return flat.reshape(values.shape)
