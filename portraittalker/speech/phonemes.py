"""Speech with exact phoneme timings, for the synthetic corpus: libespeak-ng's phoneme events at their samples.

The audio and its events come from :func:`portraittalker.speech.espeak.synthesize_native`; here the audio is
resampled to the pipeline's rate and the events become contiguous :class:`PhonemeTiming` intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field
from scipy.signal import resample_poly

from portraittalker.media.audio import DEFAULT_SAMPLE_RATE, Audio
from portraittalker.speech.espeak import EspeakError, synthesize_native
from portraittalker.speech.visemes import PhonemeTiming


@dataclass
class SpeechWithPhonemes:
    """Synthesised speech and its phonemes (``""`` = pause); times in seconds of ``audio``."""

    text: str
    voice: str
    audio: Audio
    phonemes: list[PhonemeTiming]


class SpeechParams(BaseModel):
    """espeak-ng prosody for one speaker."""

    rate_wpm: int = Field(150, ge=80, le=450, description="words per minute")
    pitch: int = Field(50, ge=0, le=99, description="base pitch, espeak scale 0-99")
    pitch_range: int = Field(50, ge=0, le=99, description="intonation range, espeak scale 0-99")
    variant: str | None = Field(None, description="espeak voice variant, e.g. f2, m3 (None = default)")


def synthesize_with_phonemes(
    text: str,
    voice: str,
    params: SpeechParams | None = None,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
) -> SpeechWithPhonemes:
    """Speak ``text`` with espeak-ng voice ``voice`` (e.g. ``en``, ``ko``, ``cmn-latn-pinyin``).

    Returns audio resampled to ``sample_rate`` (espeak produces 22.05 kHz) and one
    :class:`PhonemeTiming` per espeak phoneme event (IPA names), contiguous from the first event to
    the end of the audio; the time before the first event is a pause.
    """
    if not text or not text.strip():
        raise EspeakError("synthesize_with_phonemes: text is empty")
    params = params or SpeechParams()
    voice_name = f"{voice}+{params.variant}" if params.variant else voice
    native = synthesize_native(text, voice_name, rate_wpm=params.rate_wpm, pitch=params.pitch,
                               pitch_range=params.pitch_range)
    native_rate, raw = native.sample_rate, native.samples
    if raw.size == 0:
        raise EspeakError(f"espeak-ng produced no audio for {text!r} with voice {voice_name!r}")
    native_duration = raw.size / native_rate
    samples = raw.astype(np.float32) / 32768.0
    divisor = math.gcd(sample_rate, native_rate)
    samples = resample_poly(samples, sample_rate // divisor, native_rate // divisor).astype(np.float32)
    audio = Audio(np.clip(samples, -1.0, 1.0), sample_rate)

    starts: list[tuple[float, str]] = []
    for kind, sample, name in native.events:
        if kind == "phoneme":
            starts.append((min(sample / native_rate, native_duration), name))
    if not starts or starts[0][0] > 0:
        starts.insert(0, (0.0, ""))
    phonemes = []
    for k, (start, name) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else native_duration
        if end > start:
            phonemes.append(PhonemeTiming(name, float(start), float(end)))
    return SpeechWithPhonemes(text=text, voice=voice_name, audio=audio, phonemes=phonemes)
