"""espeak-ng speech synthesis."""

from __future__ import annotations

import numpy as np
import pytest

from portraittalker.media.audio import MissingToolError, load_audio
from portraittalker.speech import espeak
from portraittalker.speech.tts import SpeechSynthesisError, synthesize_speech


def test_synthesize_english_to_16k_mono(tmp_path) -> None:
    out = tmp_path / "hello.wav"
    audio = synthesize_speech("Hello world, this is a test.", out_path=out)
    assert audio.sample_rate == 16000 and audio.samples.ndim == 1 and audio.samples.dtype == np.float32
    assert 1.0 < audio.duration_s < 4.0
    assert float(np.sqrt(np.mean(audio.samples**2))) > 0.01
    assert audio.source == out
    np.testing.assert_array_equal(load_audio(out).samples, audio.samples)


def test_voice_variant_and_other_language() -> None:
    default = synthesize_speech("Guten Tag", language="de")
    female = synthesize_speech("Guten Tag", language="de", voice="f3")
    assert default.source is None
    assert not np.array_equal(default.samples[: female.n_samples], female.samples[: default.n_samples])


def test_text_starting_with_dash_is_spoken_not_parsed() -> None:
    assert synthesize_speech("-v xx hello").duration_s > 0.3


def test_unknown_language() -> None:
    with pytest.raises(SpeechSynthesisError, match=r"unknown espeak-ng language.*'xx-nope'"):
        synthesize_speech("hello", language="xx-nope")


def test_unknown_voice_variant() -> None:
    # espeak-ng itself ignores unknown variants silently; we must not.
    with pytest.raises(SpeechSynthesisError, match="unknown espeak-ng voice variant 'robot9000'"):
        synthesize_speech("hello", voice="robot9000")


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text(text) -> None:
    with pytest.raises(SpeechSynthesisError, match="empty"):
        synthesize_speech(text)


def test_missing_espeak_names_debian_package(tmp_path, monkeypatch) -> None:
    # The worker as it runs where libespeak-ng is not installed: none of its library names load.
    worker = tmp_path / "worker_without_library.py"
    worker.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(espeak._WORKER.parent)!r})\n"
        "import _espeak_worker as w\n"
        "w.LIBRARY_NAMES = ('libespeak-ng-absent.so',)\n"
        "w.ctypes.util.find_library = lambda _name: None\n"
        "sys.exit(w.main())\n"
    )
    monkeypatch.setattr(espeak, "_WORKER", worker)
    with pytest.raises(MissingToolError, match=r"libespeak-ng not found.*apt-get install espeak-ng"):
        synthesize_speech("hello")


def test_samples_are_the_espeak_ng_commands(tmp_path) -> None:
    """One front end (libespeak-ng), the command's output: the WAV ``espeak-ng -w`` writes, decoded the same way."""
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("the espeak-ng command is not installed")
    for text, language, voice in (("Hello world, this is a test.", "en", None), ("Guten Tag", "de", "f3")):
        spec = f"{language}+{voice}" if voice else language
        command_wav = tmp_path / "command.wav"
        subprocess.run(["espeak-ng", "-v", spec, "-s", "160", "-w", str(command_wav), "--stdin"],
                       input=text.encode(), check=True)
        expected = load_audio(command_wav, max_duration_s=None).samples
        np.testing.assert_array_equal(synthesize_speech(text, language, voice).samples, expected)
