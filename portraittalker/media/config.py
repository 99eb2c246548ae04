"""``audio`` settings (params.yaml), pydantic only: no numpy, soundfile or ffmpeg.

:mod:`portraittalker.media.audio` and params loading import them from here.
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
