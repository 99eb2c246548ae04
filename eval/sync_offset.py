"""Audio-visual offset and sync confidence (mouth-opening onsets vs speech spectral flux, SyncNet sign).

The estimator lives in the library (:mod:`portraittalker.data.av_sync`, also used by the ``prepare`` stage's
A/V offset check); this module keeps the evaluation suite's names and turns the library's
:class:`~portraittalker.data.av_sync.SyncUnavailable` into :class:`eval.common.MetricUnavailable`, which
:func:`eval.evaluate.evaluate` reports instead of a number.
"""

from __future__ import annotations

import numpy as np

from eval.common import FPS, MetricUnavailable
from portraittalker.data import av_sync as _sync
from portraittalker.data.av_sync import (
    BAND_RANGE_HZ,
    N_BANDS,
    SyncOffsetConfig,
    SyncOffsetResult,
    SyncUnavailable,
    lagged_correlation,
    mouth_onsets,
    speech_envelope,
    speech_flux,
)

__all__ = ["BAND_RANGE_HZ", "N_BANDS", "SyncOffsetConfig", "SyncOffsetResult", "estimate_av_offset",
           "lagged_correlation", "mouth_onsets", "speech_envelope", "speech_flux"]


def estimate_av_offset(mouth_opening: np.ndarray, audio_16k: np.ndarray, config: SyncOffsetConfig | None = None,
                       fps: float = FPS) -> SyncOffsetResult:
    """:func:`portraittalker.data.av_sync.estimate_av_offset`, raising ``MetricUnavailable`` where it cannot measure."""
    try:
        return _sync.estimate_av_offset(mouth_opening, audio_16k, config, fps)
    except SyncUnavailable as error:
        raise MetricUnavailable(str(error)) from error
