"""espeak-ng through its C library: audio and phoneme events with exact sample positions.

Each synthesis runs in a fresh worker process because the library is not reproducible across calls
within one process (see ``_espeak_worker.py``).
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field
from scipy.signal import resample_poly

from portraittalker.audio import DEFAULT_SAMPLE_RATE, Audio
from portraittalker.errors import PortraitTalkerError
from portraittalker.speech.visemes import PhonemeTiming


class EspeakError(PortraitTalkerError, RuntimeError):
    """libespeak-ng is missing or rejected a request."""


class UnknownLanguageError(EspeakError, ValueError):
    """espeak-ng has no voice for a requested language; the message lists the available ones."""


_WORKER = Path(__file__).with_name("_espeak_worker.py")
_WORKER_TIMEOUT_S = 120.0


def _run_worker(request: dict) -> tuple[dict, bytes]:
    """Run one espeak-ng request in a fresh process (see ``_espeak_worker.py`` for why)."""
    try:
        # -I: isolated mode, so user site-packages or PYTHON* variables cannot change the worker.
        result = subprocess.run(
            [sys.executable, "-I", str(_WORKER)], input=json.dumps(request).encode("utf-8"),
            capture_output=True, timeout=_WORKER_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise EspeakError(f"espeak-ng worker timed out after {_WORKER_TIMEOUT_S:g} s for {request}") from error
    header_line, _, payload = result.stdout.partition(b"\n")
    try:
        header = json.loads(header_line or b"{}")
    except ValueError:
        header = {}
    if "error" in header:
        message = header["error"]
        if "has no voice" in message:
            raise UnknownLanguageError(message)
        raise EspeakError(message)
    if result.returncode != 0 or not header:
        tail = result.stderr.decode("utf-8", "replace")[-2000:]
        raise EspeakError(f"espeak-ng worker failed (exit {result.returncode}): {tail}")
    return header, payload


@functools.cache
def espeak_languages() -> dict[str, str]:
    """Installed espeak-ng languages: code (``en``, ``ko``, ``cmn``, ``ja``, ``de``, …) -> voice identifier."""
    header, _ = _run_worker({"op": "voices"})
    return dict(header["languages"])


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
    header, payload = _run_worker({"op": "synth", "text": text, "voice": voice_name, "rate": params.rate_wpm,
                                   "pitch": params.pitch, "range": params.pitch_range})
    native_rate = int(header["sample_rate"])
    raw = np.frombuffer(payload[: 2 * int(header["n_samples"])], dtype="<i2")
    if raw.size == 0:
        raise EspeakError(f"espeak-ng produced no audio for {text!r} with voice {voice_name!r}")
    native_duration = raw.size / native_rate
    samples = raw.astype(np.float32) / 32768.0
    divisor = math.gcd(sample_rate, native_rate)
    samples = resample_poly(samples, sample_rate // divisor, native_rate // divisor).astype(np.float32)
    audio = Audio(np.clip(samples, -1.0, 1.0), sample_rate)

    starts: list[tuple[float, str]] = []
    for kind, sample, name in header["events"]:
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
