"""Speech settings, pydantic only (no numpy or scipy): ``speech`` (synthetic speech for demos and the synthetic
corpus) and ``synth.coarticulation``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CoarticulationConfig(BaseModel):
    """``synth.coarticulation``: dominance-function coarticulation and track smoothing."""

    anticipation_s: float = Field(0.07, gt=0, description="dominance decay time before a segment (anticipatory)")
    carryover_s: float = Field(0.05, gt=0, description="dominance decay time after a segment (carry-over)")
    shape_exponent: float = Field(1.0, gt=0, description="c in exp(-(Δ/τ)^c); 1 = Cohen-Massaro's exponential")
    constriction_ramp_s: float = Field(0.04, gt=0, description="closing/opening time of lip closures")
    min_constriction_s: float = Field(0.045, ge=0, description="shortest held closure, so every /p/ shows in a frame")
    smoothing_s: float = Field(0.012, ge=0, description="Gaussian σ for articulator inertia (0 = none)")
    short_pause_s: float = Field(
        0.15, gt=0, description="pauses shorter than this pull towards rest proportionally less (syllable gaps)"
    )


class SpeechConfig(BaseModel):
    """``speech`` section of params.yaml (synthetic speech for demos and the synthetic corpus)."""

    language: str = Field("en", description="espeak-ng language/voice code, e.g. en, en-us, de, fr")
    voice: str | None = Field(None, description="espeak-ng voice variant, e.g. f3, m3, klatt (None = default)")
    words_per_minute: int = Field(160, ge=80, le=450)
