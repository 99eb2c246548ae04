"""libespeak-ng synthesis with phoneme events, run as a short-lived subprocess (standard library only).

Why a subprocess: libespeak-ng keeps synthesis state between calls (the same text synthesised twice
in one process gives different samples and phoneme timings) and cannot be re-initialised in-process,
while a fresh process is bit-exactly reproducible, like the ``espeak-ng`` command. It is started by
path (not ``-m``), so it imports nothing of the package and starts in a few tens of milliseconds.

Protocol: one JSON request on stdin.
- ``{"op": "voices"}`` -> one JSON line ``{"languages": {code: voice identifier}}``.
- ``{"op": "variants"}`` -> one JSON line ``{"variants": [name, ...]}`` (``f3``, ``m3``, ``klatt``, …).
- ``{"op": "synth", "text", "voice", "rate", "pitch", "range"[, "like_command"]}`` -> one JSON line
  ``{"sample_rate", "n_samples", "events": [[kind, sample, name], ...]}`` followed by the int16
  little-endian samples. ``kind`` is "phoneme" or "end"; ``sample`` counts from the start of the audio.
  ``like_command``: synthesise with the flags the ``espeak-ng`` command uses (``[[phoneme]]`` input, a pause
  at the end), so the samples equal what ``espeak-ng -w`` writes.
- Errors: one JSON line ``{"error": message}`` and exit status 2.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import sys

LIBRARY_NAMES = ("libespeak-ng.so.1", "libespeak-ng.so", "libespeak-ng.dylib")
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS, INITIALIZE_PHONEME_IPA, INITIALIZE_DONT_EXIT = 0x0001, 0x0002, 0x8000
CHARS_AUTO, CHARS_UTF8, POS_CHARACTER = 0, 1, 1
PHONEMES, ENDPAUSE = 0x100, 0x1000  # espeakPHONEMES, espeakENDPAUSE
EVENT_LIST_TERMINATED, EVENT_END, EVENT_PHONEME = 0, 5, 7
PARAM_RATE, PARAM_PITCH, PARAM_RANGE = 1, 3, 4
EE_OK = 0


class EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h (espeak-ng 1.49+)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # samples since the start of synthesis
        ("user_data", ctypes.c_void_p),
        ("id", EventId),
    ]


class Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, zero-terminated code)* then a zero byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event))


class WorkerError(Exception):
    pass


def load_library() -> tuple[ctypes.CDLL, int]:
    for name in (*LIBRARY_NAMES, ctypes.util.find_library("espeak-ng")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        break
    else:
        raise WorkerError("libespeak-ng not found; install the Debian packages 'libespeak-ng1' and 'espeak-ng-data'")
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [SynthCallback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_ListVoices.argtypes = [ctypes.POINTER(Voice)]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(Voice))
    options = INITIALIZE_PHONEME_EVENTS | INITIALIZE_PHONEME_IPA | INITIALIZE_DONT_EXIT
    sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options)
    if sample_rate <= 0:
        raise WorkerError(f"espeak_Initialize failed ({sample_rate}); is 'espeak-ng-data' installed?")
    return lib, sample_rate


def list_languages(lib: ctypes.CDLL) -> dict[str, str]:
    """Language code -> voice identifier; a code spoken by several voices goes to the one that
    ranks it highest (lowest priority number). mbrola voices (need extra data) are left out."""
    best: dict[str, tuple[int, str]] = {}
    voices = lib.espeak_ListVoices(None)
    i = 0
    while voices[i]:
        voice = voices[i].contents
        identifier = (voice.identifier or b"").decode()
        i += 1
        if identifier.startswith("mb/") or not voice.languages:
            continue
        raw = ctypes.string_at(voice.languages, 512)
        pos = 0
        while pos < len(raw) and raw[pos] != 0:
            priority, end = raw[pos], raw.index(b"\0", pos + 1)
            code = raw[pos + 1 : end].decode("utf-8", "replace")
            if code not in best or priority < best[code][0]:
                best[code] = (priority, identifier)
            pos = end + 1
    return {code: identifier for code, (_, identifier) in sorted(best.items())}


def list_variants(lib: ctypes.CDLL) -> list[str]:
    """Voice variants (the voices of the pseudo-language "variant", identifiers ``!v/<name>``), as
    ``espeak-ng --voices=variant`` lists them."""
    spec = Voice(languages=ctypes.cast(ctypes.c_char_p(b"variant"), ctypes.c_void_p))
    voices = lib.espeak_ListVoices(ctypes.byref(spec))
    names, i = [], 0
    while voices[i]:
        names.append((voices[i].contents.identifier or b"").decode().removeprefix("!v/"))
        i += 1
    return names


def synthesize(lib: ctypes.CDLL, request: dict) -> tuple[bytes, list[list]]:
    chunks: list[bytes] = []
    events: list[list] = []

    def on_synth(wav, n_samples, event_list) -> int:  # type: ignore[no-untyped-def]
        if n_samples > 0 and wav:
            chunks.append(ctypes.string_at(wav, 2 * n_samples))
        k = 0
        while event_list[k].type != EVENT_LIST_TERMINATED:
            event = event_list[k]
            if event.type == EVENT_PHONEME:
                name = bytes(event.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                events.append(["phoneme", int(event.sample), name])
            elif event.type == EVENT_END:
                events.append(["end", int(event.sample), ""])
            k += 1
        return 0

    callback = SynthCallback(on_synth)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(str(request["voice"]).encode()) != EE_OK:
        raise WorkerError(f"espeak-ng has no voice {request['voice']!r}")
    for parameter, key in ((PARAM_RATE, "rate"), (PARAM_PITCH, "pitch"), (PARAM_RANGE, "range")):
        lib.espeak_SetParameter(parameter, int(request[key]), 0)
    data = str(request["text"]).encode("utf-8") + b"\0"
    flags = CHARS_AUTO | PHONEMES | ENDPAUSE if request.get("like_command") else CHARS_UTF8
    status = lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, flags, None, None)
    if status != EE_OK:
        raise WorkerError(f"espeak_Synth failed with status {status}")
    lib.espeak_Synchronize()
    return b"".join(chunks), events


def main() -> int:
    out = sys.stdout.buffer
    try:
        request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
        lib, sample_rate = load_library()
        if request.get("op") == "voices":
            out.write(json.dumps({"languages": list_languages(lib)}).encode() + b"\n")
        elif request.get("op") == "variants":
            out.write(json.dumps({"variants": list_variants(lib)}).encode() + b"\n")
        elif request.get("op") == "synth":
            audio, events = synthesize(lib, request)
            header = {"sample_rate": sample_rate, "n_samples": len(audio) // 2, "events": events}
            out.write(json.dumps(header).encode() + b"\n")
            out.write(audio)
        else:
            raise WorkerError(f"unknown request {request.get('op')!r}")
    except (WorkerError, ValueError, KeyError) as error:
        out.write(json.dumps({"error": str(error)}).encode() + b"\n")
        return 2
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
