"""The one espeak-ng front end: libespeak-ng in a fresh worker process per request (``_espeak_worker.py``).

A fresh process because the library is not reproducible across calls within one process; the worker is started
by path with the standard library only, so it costs tens of milliseconds. Both speech sources use it: the
synthetic corpus (:mod:`~portraittalker.speech.phonemes`: audio plus exact phoneme events) and plain speech
(:mod:`~portraittalker.speech.tts`: samples identical to what the ``espeak-ng`` command writes).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.media.tools import MissingToolError


class EspeakError(PortraitTalkerError, RuntimeError):
    """libespeak-ng is missing or rejected a request."""


class UnknownLanguageError(EspeakError, ValueError):
    """espeak-ng has no voice for a requested language; the message lists the available ones."""


class EspeakNotInstalledError(EspeakError, MissingToolError):
    """libespeak-ng (Debian: ``espeak-ng``, which brings ``libespeak-ng1`` and ``espeak-ng-data``) is not installed."""


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
        if "libespeak-ng not found" in message:
            raise EspeakNotInstalledError(f"{message} (Debian/Ubuntu: `apt-get install espeak-ng`)")
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


@functools.cache
def espeak_variants() -> frozenset[str]:
    """Installed voice variants (``f3``, ``m3``, ``klatt``, …), as ``espeak-ng --voices=variant`` lists them."""
    header, _ = _run_worker({"op": "variants"})
    return frozenset(header["variants"])


@dataclass
class NativeSpeech:
    """What libespeak-ng returned: int16 samples at its own rate (22.05 kHz) and its events."""

    samples: np.ndarray  # (N,) int16
    sample_rate: int
    events: list[tuple[str, int, str]]  # (kind: "phoneme" | "end", sample, IPA name)


def synthesize_native(text: str, voice: str, *, rate_wpm: int, pitch: int = 50, pitch_range: int = 50,
                      like_command: bool = False) -> NativeSpeech:
    """Speak ``text`` with voice ``voice`` (``en``, ``de+f3``, …) at the library's rate.

    ``like_command`` uses the synthesis flags of the ``espeak-ng`` command (``[[phoneme]]`` input, a pause at
    the end): the samples are then the ones ``espeak-ng -v VOICE -s RATE -w`` writes (pitch and range 50 are
    its defaults).
    """
    request = {"op": "synth", "text": text, "voice": voice, "rate": rate_wpm, "pitch": pitch, "range": pitch_range}
    if like_command:
        request["like_command"] = True
    header, payload = _run_worker(request)
    samples = np.frombuffer(payload[: 2 * int(header["n_samples"])], dtype="<i2")
    events = [(str(kind), int(sample), str(name)) for kind, sample, name in header["events"]]
    return NativeSpeech(samples, int(header["sample_rate"]), events)
