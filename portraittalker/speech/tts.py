"""Text-to-speech with espeak-ng: a dependency-light speech source for demos and synthetic data.

espeak-ng is a formant synthesiser: robotic, but deterministic, offline, multilingual and a
Debian package. The samples come from the one espeak-ng front end (:mod:`portraittalker.speech.espeak`),
synthesised as the ``espeak-ng`` command does; they are decoded through :func:`portraittalker.media.audio.load_audio`,
so the result follows the pipeline's audio convention (16 kHz mono float32).
"""

from __future__ import annotations

import re
import tempfile
import wave
from pathlib import Path

from portraittalker.errors import PortraitTalkerError
from portraittalker.media.audio import DEFAULT_SAMPLE_RATE, Audio, load_audio, write_wav
from portraittalker.speech.espeak import (
    EspeakError,
    EspeakNotInstalledError,
    UnknownLanguageError,
    espeak_variants,
    synthesize_native,
)

_LANGUAGE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class SpeechSynthesisError(PortraitTalkerError, ValueError):
    """espeak-ng rejected the request (unknown language or voice, empty text) or failed."""


def synthesize_speech(
    text: str,
    language: str = "en",
    voice: str | None = None,
    *,
    out_path: str | Path | None = None,
    words_per_minute: int = 160,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
) -> Audio:
    """Speak ``text`` with espeak-ng and return it as mono float32 :class:`Audio` at ``sample_rate``.

    ``language`` is an espeak-ng voice code (``espeak-ng --voices``); ``voice`` an optional variant
    (``espeak-ng --voices=variant``, e.g. ``f3``). With ``out_path`` the 16 kHz mono WAV is also
    written there (atomically) and becomes ``Audio.source``. A missing espeak-ng raises
    :class:`~portraittalker.speech.espeak.EspeakNotInstalledError` (a ``MissingToolError``).
    """
    if not text or not text.strip():
        raise SpeechSynthesisError("synthesize_speech: text is empty")
    if not _LANGUAGE_PATTERN.match(language):
        raise SpeechSynthesisError(f"synthesize_speech: invalid language code {language!r}")
    voice_spec = language
    try:
        if voice is not None:
            variants = espeak_variants()
            if voice not in variants:
                # espeak-ng silently ignores unknown variants, so check them ourselves.
                raise SpeechSynthesisError(
                    f"unknown espeak-ng voice variant {voice!r}; available: {', '.join(sorted(variants)[:20])}, …"
                    " (see `espeak-ng --voices=variant`)"
                )
            voice_spec = f"{language}+{voice}"
        native = synthesize_native(text, voice_spec, rate_wpm=words_per_minute, like_command=True)
    except UnknownLanguageError as error:
        raise SpeechSynthesisError(
            f"unknown espeak-ng language/voice {language!r} (see `espeak-ng --voices`): {error}"
        ) from error
    except EspeakNotInstalledError:
        raise
    except EspeakError as error:
        raise SpeechSynthesisError(f"espeak-ng failed for {voice_spec!r}: {error}") from error

    with tempfile.TemporaryDirectory(prefix="portraittalker-tts-") as tmp_dir:
        # Decoded from a WAV by ffmpeg, as the espeak-ng command's output always was: the same resampling.
        raw_wav = Path(tmp_dir) / "espeak.wav"
        with wave.open(str(raw_wav), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(native.sample_rate)
            handle.writeframes(native.samples.astype("<i2").tobytes())
        audio = load_audio(raw_wav, sample_rate=sample_rate, max_duration_s=None)

    audio.source = None
    if out_path is not None:
        audio.source = write_wav(out_path, audio)
    return audio
