"""Speech as the motion models take it: a 16 kHz mono float32 waveform, and its number of 25 fps frames.

Torch-free, shared by the torch model (:mod:`.model`) and its numpy runtime (:mod:`.runtime`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.head.params import as_numpy
from portraittalker.media.audio import n_video_frames as audio_frames
from portraittalker.motion.config import FPS, SAMPLE_RATE


class AudioInputError(PortraitTalkerError, ValueError):
    """Audio handed to the motion model is not a usable speech waveform."""


def n_video_frames(n_samples: int) -> int:
    """Number of 25 fps frames covering ``n_samples`` of 16 kHz audio (the pipeline's rule, at least 1)."""
    return max(1, audio_frames(n_samples, SAMPLE_RATE, FPS))


def resample_to_model_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Polyphase resampling of a mono float waveform to 16 kHz (a no-op at 16 kHz)."""
    if sample_rate == SAMPLE_RATE:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(int(sample_rate), SAMPLE_RATE)
    return resample_poly(samples, SAMPLE_RATE // g, int(sample_rate) // g).astype(np.float32)


def as_waveform(audio: Any) -> np.ndarray:
    """A 16 kHz mono float32 waveform from an array or tensor (assumed 16 kHz) or an object with samples + rate."""
    sample_rate = SAMPLE_RATE
    if isinstance(audio, np.ndarray) or hasattr(audio, "detach"):
        samples = as_numpy(audio)
    else:
        samples = next((getattr(audio, a) for a in ("samples", "waveform", "data") if hasattr(audio, a)), None)
        rate = next((getattr(audio, a) for a in ("sample_rate", "sr", "rate") if hasattr(audio, a)), None)
        if samples is None or rate is None:
            raise AudioInputError(f"audio of type {type(audio).__name__} has no samples/sample_rate attributes")
        samples, sample_rate = np.asarray(samples), int(rate)
    if samples.ndim == 2:  # (S, C) or (C, S): mix down along the short axis
        samples = samples.mean(axis=int(np.argmin(samples.shape)))
    if samples.ndim != 1 or samples.size == 0:
        raise AudioInputError(f"audio must be a non-empty mono waveform, got shape {samples.shape}")
    samples = samples.astype(np.float32)
    if not np.isfinite(samples).all():
        raise AudioInputError("audio contains NaN or infinite samples")
    return resample_to_model_rate(samples, sample_rate)
