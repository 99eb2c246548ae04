"""``audio`` and ``speech`` settings and the A/V-offset estimator's, pydantic only (no numpy, soundfile, scipy).

:mod:`portraittalker.audio`, :mod:`portraittalker.speech.tts` and :mod:`portraittalker.sync` import them from here.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_SAMPLE_RATE = 16000
DEFAULT_MAX_DURATION_S = 600.0


class AudioConfig(BaseModel):
    """``audio`` section of params.yaml."""

    sample_rate: int = Field(DEFAULT_SAMPLE_RATE, gt=0, description="decode rate in Hz (the pipeline uses 16 kHz)")
    max_duration_s: float | None = Field(
        DEFAULT_MAX_DURATION_S, gt=0, description="reject longer inputs; None disables the limit"
    )


class SpeechConfig(BaseModel):
    """``speech`` section of params.yaml (synthetic speech for demos and the synthetic corpus)."""

    language: str = Field("en", description="espeak-ng language/voice code, e.g. en, en-us, de, fr")
    voice: str | None = Field(None, description="espeak-ng voice variant, e.g. f3, m3, klatt (None = default)")
    words_per_minute: int = Field(160, ge=80, le=450)


class SyncOffsetConfig(BaseModel):
    max_lag: int = Field(15, ge=1, description="lags searched: ±max_lag frames")
    window_frames: int = Field(100, ge=10, description="correlation window (frames)")
    window_hop: int = Field(25, ge=1, description="hop between windows (frames)")
