"""Audio-visual offset and sync confidence from mouth motion vs speech onsets (no learned weights).

This is NOT LSE: it is a hand-made measure with a much weaker signal. Both streams are reduced to
onset envelopes at 25 fps, which removes the slow speech rhythm that makes a plain
mouth-opening/energy cross-correlation jump to far peaks:

* video: rectified first difference of the MediaPipe mouth opening (the lips opening);
* audio: spectral flux, the rectified frame-to-frame increase of log energy summed over 12
  log-spaced bands (100 Hz-6 kHz) of a 10 ms-hop STFT averaged to 25 fps.

Pearson correlation is taken at every lag in ±``max_lag`` frames inside overlapping windows
(``window_frames``, hop ``window_hop``; the whole clip if shorter) and the curves are averaged.
``offset`` = argmax lag, reported with SyncNet's sign (positive = audio leads video, i.e. the
audio must be delayed by ``offset`` frames to line up); ``confidence`` = peak - median of the
averaged curve (like SyncNet's median - min of distances).

Used by the ``prepare`` stage (A/V offset check, :mod:`portraittalker.data.prepare.av_offset`) and by the
evaluation suite (``eval/sync_offset.py`` re-exports it, raising its ``MetricUnavailable``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import signal

from portraittalker.data.config import SyncOffsetConfig
from portraittalker.errors import PortraitTalkerError

FPS = 25
SAMPLE_RATE = 16000
N_BANDS = 12
BAND_RANGE_HZ = (100.0, 6000.0)


class SyncUnavailable(PortraitTalkerError, ValueError):  # noqa: N818 - reads as a state, not a failure
    """The offset cannot be estimated (clip too short, no face, silent or static signal)."""


@dataclass
class SyncOffsetResult:
    offset: int  # SyncNet sign: positive = audio leads video
    confidence: float  # peak - median of the mean correlation curve
    peak_correlation: float
    curve: np.ndarray  # (2*max_lag+1,) mean correlation, index k <-> audio delay k - max_lag


def _fill_nans(values: np.ndarray) -> np.ndarray:
    """Linearly fill NaN entries of a 1-D series (edges take the nearest valid value); all-NaN stays NaN."""
    values = np.asarray(values, dtype=np.float64).copy()
    valid = np.isfinite(values)
    if valid.any() and not valid.all():
        index = np.arange(len(values))
        values[~valid] = np.interp(index[~valid], index[valid], values[valid])
    return values


def speech_flux(audio_16k: np.ndarray, n_frames: int, fps: float = FPS) -> np.ndarray:
    """(n_frames,) spectral-flux onset envelope; value at frame i = onset strength entering frame i."""
    f, _, stft = signal.stft(np.asarray(audio_16k, np.float64), fs=SAMPLE_RATE, nperseg=1024, noverlap=1024 - 160,
                             boundary="even", padded=True)
    power = np.abs(stft) ** 2
    edges = np.geomspace(*BAND_RANGE_HZ, N_BANDS + 1)
    bands = np.log(np.stack([power[(f >= lo) & (f < hi)].sum(0) for lo, hi in itertools.pairwise(edges)])
                   + 1e-8)
    per_frame = 100.0 / fps  # STFT frames (10 ms) per video frame
    log_energy = np.full((N_BANDS, n_frames), np.log(1e-8))
    for i in range(n_frames):
        lo, hi = round(i * per_frame), round((i + 1) * per_frame) + 1
        if lo < bands.shape[1]:
            log_energy[:, i] = bands[:, lo:hi].mean(1)
    flux = np.maximum(np.diff(log_energy, axis=1), 0).sum(0)
    return np.concatenate([[0.0], flux])


def mouth_onsets(mouth_opening: np.ndarray) -> np.ndarray:
    opening = _fill_nans(mouth_opening)
    return np.concatenate([[0.0], np.maximum(np.diff(opening), 0)])


def _zscore(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    return x / (x.std() + 1e-12)


def lagged_correlation(video: np.ndarray, audio: np.ndarray, max_lag: int) -> np.ndarray:
    """Pearson correlation of video[i] with audio[i + lag] for lag in -max_lag..max_lag."""
    n = len(video)
    out = np.empty(2 * max_lag + 1)
    for k, lag in enumerate(range(-max_lag, max_lag + 1)):
        v, a = (video[:n - lag], audio[lag:]) if lag >= 0 else (video[-lag:], audio[:n + lag])
        out[k] = np.mean(_zscore(v) * _zscore(a))
    return out


def estimate_av_offset(mouth_opening: np.ndarray, audio_16k: np.ndarray, config: SyncOffsetConfig | None = None,
                       fps: float = FPS) -> SyncOffsetResult:
    """Offset/confidence of a face's mouth-opening series (one value per frame) against its 16 kHz audio.

    Raises :class:`SyncUnavailable` when the clip is too short for the lag search, no face was
    tracked, or either signal is constant.
    """
    config = config or SyncOffsetConfig()
    mouth_opening = np.asarray(mouth_opening, dtype=np.float64)
    n = min(len(mouth_opening), int(len(audio_16k) * fps / SAMPLE_RATE))
    if n < 2 * config.max_lag + 10:
        raise SyncUnavailable(f"too short for a ±{config.max_lag}-frame offset search: {n} frames")
    if not np.isfinite(mouth_opening[:n]).any():
        raise SyncUnavailable("no face tracked: no mouth opening signal")
    video = mouth_onsets(mouth_opening[:n])
    audio = speech_flux(audio_16k, n, fps)
    if video.std() < 1e-9 or audio.std() < 1e-9:
        raise SyncUnavailable("mouth or audio signal is constant (static mouth or silence)")
    win = min(config.window_frames, n)
    starts = range(0, n - win + 1, config.window_hop)
    curve = np.mean([lagged_correlation(video[s:s + win], audio[s:s + win], config.max_lag) for s in starts], axis=0)
    best = int(np.argmax(curve))
    audio_delay = best - config.max_lag
    return SyncOffsetResult(offset=-audio_delay, confidence=float(curve[best] - np.median(curve)),
                            peak_correlation=float(curve[best]), curve=curve)


def speech_envelope(audio_16k: np.ndarray, n_frames: int, fps: float = FPS) -> np.ndarray:
    """(n_frames,) log RMS of 300-3000 Hz speech per video frame (for plots next to mouth opening)."""
    sos = signal.butter(4, (300, 3000), btype="band", fs=SAMPLE_RATE, output="sos")
    band = signal.sosfiltfilt(sos, np.asarray(audio_16k, np.float64)) if len(audio_16k) > 30 else audio_16k
    hop = SAMPLE_RATE / fps
    out = np.full(n_frames, np.log(1e-4))
    for i in range(n_frames):
        chunk = band[int(i * hop):int((i + 1) * hop)]
        if len(chunk):
            out[i] = np.log(np.sqrt(np.mean(chunk**2)) + 1e-4)
    return out
