"""Audio loading: real mixed-format inputs and every error case."""

from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pytest
import soundfile
from pydantic import ValidationError
from scipy.signal import resample_poly

from portraittalker.assets import REPO_ROOT
from portraittalker.media.audio import (
    Audio,
    AudioDecodeError,
    AudioError,
    AudioFileNotFound,
    AudioTooLongError,
    EmptyAudioError,
    MissingToolError,
    NoAudioStreamError,
    SilentAudioWarning,
    load_audio,
    n_video_frames,
    write_wav,
)
from portraittalker.media.config import AudioConfig

SHARED = REPO_ROOT.parent / "shared" / "data"


def test_stereo_16k_wav_is_averaged_to_mono() -> None:
    path = SHARED / "speech" / "RD_Radio31_000.wav"
    audio = load_audio(path)
    reference, rate = soundfile.read(path, dtype="float32")
    assert rate == 16000 and reference.ndim == 2
    assert audio.sample_rate == 16000 and audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.n_samples == reference.shape[0] and audio.duration_s == pytest.approx(8.0)
    np.testing.assert_allclose(audio.samples, reference.mean(axis=1), atol=1e-6)
    assert audio.source == path


@pytest.mark.parametrize("name", ["RD_Radio31_000.wav", "RD_Radio34_002.wav"])
def test_a_16k_pcm_wav_read_directly_gives_ffmpegs_samples(name: str, monkeypatch) -> None:
    from portraittalker.media import audio as audio_module

    path = SHARED / "speech" / name
    direct = load_audio(path)
    monkeypatch.setattr(audio_module, "_read_pcm16_wav", lambda *args: None)
    np.testing.assert_array_equal(direct.samples, load_audio(path).samples)


def test_48k_stereo_is_resampled_to_16k_mono() -> None:
    path = SHARED / "speech" / "japanese.wav"
    audio = load_audio(path)
    reference, rate = soundfile.read(path, dtype="float32")
    assert rate == 48000
    expected = resample_poly(reference.mean(axis=1), 1, 3).astype(np.float32)
    assert audio.sample_rate == 16000
    assert abs(audio.n_samples - expected.shape[0]) <= 2
    n = min(audio.n_samples, expected.shape[0])
    # Different resamplers differ slightly at the band edge; the waveform must still match closely.
    assert np.corrcoef(audio.samples[:n], expected[:n])[0, 1] > 0.99
    assert audio.duration_s == pytest.approx(reference.shape[0] / rate, abs=1e-3)


@pytest.mark.parametrize("clip", sorted((SHARED / "real_clips").glob("*.mp4")), ids=lambda p: p.stem)
def test_audio_track_of_real_video(clip) -> None:
    audio = load_audio(clip)
    assert audio.sample_rate == 16000
    assert audio.duration_s == pytest.approx(8.0, abs=0.01)
    rms = float(np.sqrt(np.mean(audio.samples**2)))
    assert rms > 0.01  # real speech, not silence


def test_custom_sample_rate(tmp_path) -> None:
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)).astype(np.float32)
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone, 22050)
    audio = load_audio(path, sample_rate=8000)
    assert audio.sample_rate == 8000 and audio.n_samples == 8000


def test_missing_file(tmp_path) -> None:
    with pytest.raises(AudioFileNotFound, match="not found") as info:
        load_audio(tmp_path / "nope.wav")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)


def test_zero_byte_file(tmp_path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="0 bytes"):
        load_audio(path)


def test_wav_header_without_samples(tmp_path) -> None:
    path = tmp_path / "header_only.wav"
    soundfile.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(EmptyAudioError, match="zero samples"):
        load_audio(path)


def test_garbage_bytes(tmp_path) -> None:
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(AudioDecodeError, match=r"garbage\.wav"):
        load_audio(path)


def test_video_without_audio_stream(tmp_path) -> None:
    path = tmp_path / "silent_video.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=25", "-frames:v", "10", str(path)],
        check=True,
    )
    with pytest.raises(NoAudioStreamError, match=r"no audio stream.*video"):
        load_audio(path)


def test_too_long_names_limit_and_config_key(tmp_path) -> None:
    path = tmp_path / "two_seconds.wav"
    soundfile.write(path, np.full(32000, 0.1, np.float32), 16000)
    with pytest.raises(AudioTooLongError, match=r"limit of 1.5 s.*audio\.max_duration_s"):
        load_audio(path, max_duration_s=1.5)
    assert load_audio(path, max_duration_s=None).n_samples == 32000


def test_too_long_without_stated_duration(tmp_path) -> None:
    # Matroska written to a pipe states no stream duration; decoding must still stop at the limit.
    path = tmp_path / "streamed.mkv"
    with open(path, "wb") as handle:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=5", "-f", "matroska", "pipe:1"],
            stdout=handle,
            check=True,
        )
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "N/A"  # the case under test: no stated duration
    with pytest.raises(AudioTooLongError, match=r"at least 3\.0 s.*audio.max_duration_s"):
        load_audio(path, max_duration_s=2.0)


def test_silent_audio_warns_but_loads(tmp_path) -> None:
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(16000, np.float32), 16000)
    with pytest.warns(SilentAudioWarning, match="silent"):
        audio = load_audio(path)
    assert audio.n_samples == 16000 and not audio.samples.any()


def test_speech_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentAudioWarning)
        load_audio(SHARED / "speech" / "RD_Radio34_002.wav")


def test_missing_ffmpeg_names_package(tmp_path, monkeypatch) -> None:
    path = tmp_path / "a.wav"  # 48 kHz: needs ffmpeg's resampler (16 kHz PCM WAV is read without ffmpeg)
    soundfile.write(path, np.full(480, 0.1, np.float32), 48000)
    monkeypatch.setenv("PATH", str(tmp_path / "empty_bin"))
    with pytest.raises(MissingToolError, match="apt-get install ffmpeg"):
        load_audio(path)


def test_write_wav_round_trip(tmp_path) -> None:
    samples = np.random.default_rng(1).uniform(-0.5, 0.5, 1234).astype(np.float32)
    path = write_wav(tmp_path / "sub" / "x.wav", Audio(samples, 16000))
    np.testing.assert_array_equal(load_audio(path).samples, samples)
    assert [p.name for p in path.parent.iterdir()] == ["x.wav"]


def test_audio_rejects_multichannel_array() -> None:
    with pytest.raises(AudioError, match="mono"):
        Audio(np.zeros((10, 2), np.float32), 16000)


def test_n_video_frames_covers_audio_within_one_frame() -> None:
    assert n_video_frames(128000, 16000) == 200
    assert n_video_frames(128001, 16000) == 201
    assert n_video_frames(0, 16000) == 0
    assert n_video_frames(3 * 44100, 44100, fps=25) == 75
    rng = np.random.default_rng(0)
    for n_samples, rate in zip(
        rng.integers(1, 10**7, 200), rng.choice([8000, 16000, 22050, 44100, 48000], 200), strict=True
    ):
        frames = n_video_frames(int(n_samples), int(rate), 25)
        duration = n_samples / rate
        assert duration <= frames / 25 < duration + 1 / 25
    with pytest.raises(ValueError):
        n_video_frames(-1, 16000)


def test_audio_config() -> None:
    config = AudioConfig()
    assert config.sample_rate == 16000 and config.max_duration_s == 600.0
    assert AudioConfig(max_duration_s=None).max_duration_s is None
    with pytest.raises(ValidationError):
        AudioConfig(sample_rate=0)
