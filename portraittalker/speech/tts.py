"""Text-to-speech with espeak-ng: a dependency-light speech source for demos and synthetic data.

espeak-ng is a formant synthesiser: robotic, but deterministic, offline, multilingual and a
Debian package. Its WAV output (22.05 kHz) is decoded through :func:`portraittalker.audio.load_audio`,
so the result follows the pipeline's audio convention (16 kHz mono float32).
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from pathlib import Path

from portraittalker.audio import (
    DEFAULT_SAMPLE_RATE,
    Audio,
    load_audio,
    require_tool,
    stderr_tail,
    write_wav,
)
from portraittalker.audio_config import SpeechConfig as SpeechConfig
from portraittalker.errors import PortraitTalkerError

ESPEAK_PACKAGE = "espeak-ng"
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
    written there (atomically) and becomes ``Audio.source``.
    """
    if not text or not text.strip():
        raise SpeechSynthesisError("synthesize_speech: text is empty")
    if not _LANGUAGE_PATTERN.match(language):
        raise SpeechSynthesisError(f"synthesize_speech: invalid language code {language!r}")
    espeak = require_tool("espeak-ng", ESPEAK_PACKAGE)
    voice_spec = language
    if voice is not None:
        variants = _espeak_variants(espeak)
        if voice not in variants:
            # espeak-ng silently ignores unknown variants, so check them ourselves.
            raise SpeechSynthesisError(
                f"unknown espeak-ng voice variant {voice!r}; available: {', '.join(sorted(variants)[:20])}, …"
                " (see `espeak-ng --voices=variant`)"
            )
        voice_spec = f"{language}+{voice}"

    with tempfile.TemporaryDirectory(prefix="portraittalker-tts-") as tmp_dir:
        raw_wav = Path(tmp_dir) / "espeak.wav"
        # Text goes in on stdin so that text starting with "-" is never parsed as an option.
        result = subprocess.run(
            [espeak, "-v", voice_spec, "-s", str(words_per_minute), "-w", str(raw_wav), "--stdin"],
            input=text.encode("utf-8"),
            capture_output=True,
            check=False,
        )
        message = stderr_tail(result.stderr)
        if result.returncode != 0 or not raw_wav.is_file():
            if "voice does not exist" in message:
                raise SpeechSynthesisError(
                    f"unknown espeak-ng language/voice {language!r} (see `espeak-ng --voices`): {message}"
                )
            raise SpeechSynthesisError(f"espeak-ng failed (exit {result.returncode}) for {voice_spec!r}: {message}")
        audio = load_audio(raw_wav, sample_rate=sample_rate, max_duration_s=None)

    audio.source = None
    if out_path is not None:
        audio.source = write_wav(out_path, audio)
    return audio


@functools.lru_cache(maxsize=1)
def _espeak_variants(espeak: str) -> frozenset[str]:
    listing = subprocess.run([espeak, "--voices=variant"], capture_output=True, text=True, check=False).stdout
    names = set()
    for line in listing.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5:
            names.add(columns[4].removeprefix("!v/"))
    return frozenset(names)
