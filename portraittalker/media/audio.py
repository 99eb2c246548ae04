"""Audio input: decode any ffmpeg-readable file (or a video's audio track) to 16 kHz mono float32.

Every stage works on :class:`Audio` — mono float32 samples in [-1, 1] at (by default) 16 kHz, the
pipeline's audio convention. Decoding goes through an ``ffmpeg`` subprocess so that any container
or codec ffmpeg understands works; ``ffprobe`` checks for an audio stream first so a video without
sound gets a clear error instead of an empty array. A 16-bit PCM WAV already at the wanted rate is read
directly (libsndfile): the same samples ffmpeg gives, without its ~0.3 s of two subprocesses.

Video frames and audio are tied together by :func:`n_video_frames`: a clip of ``n`` samples is
rendered as ``ceil(n * fps / sample_rate)`` frames, so the video lasts at least as long as the audio
and less than one frame longer.
"""

from __future__ import annotations

import errno
import math
import os
import subprocess
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile

from portraittalker.errors import PortraitTalkerError
from portraittalker.media.config import DEFAULT_MAX_DURATION_S, DEFAULT_SAMPLE_RATE
from portraittalker.media.files import atomic_path
from portraittalker.media.probe import probe_json, run_ffprobe

# Re-exported (the tool helpers moved to media/): the tests import them from here.
from portraittalker.media.tools import STDERR_TAIL_CHARS as STDERR_TAIL_CHARS
from portraittalker.media.tools import MissingToolError as MissingToolError
from portraittalker.media.tools import require_tool, stderr_tail

# Peak below this (about -80 dBFS) counts as digital silence: nothing for a mouth to follow.
SILENCE_PEAK = 1e-4
CODEC_PADDING_TOLERANCE_S = 0.1


class AudioError(PortraitTalkerError, ValueError):
    """An audio input cannot be used; the message names the file and the problem."""


class AudioFileNotFound(AudioError, FileNotFoundError):  # noqa: N818 - name given by the interface contract
    """The audio (or video) file does not exist."""


class NoAudioStreamError(AudioError):
    """The file is a valid media file but carries no audio stream (e.g. a silent video)."""


class AudioDecodeError(AudioError):
    """ffmpeg/ffprobe could not read the file as media."""


class EmptyAudioError(AudioError):
    """The file holds no audio samples (zero bytes, or a header without data)."""


class AudioTooLongError(AudioError):
    """The audio is longer than ``audio.max_duration_s``."""


class SilentAudioWarning(UserWarning):
    """The audio is digitally silent; a talking head will keep its mouth closed."""


class NotSpeechWarning(UserWarning):
    """The audio does not sound like speech (noise, music, a steady tone): the lips will not follow words."""


@dataclass
class Audio:
    """Mono float32 samples at ``sample_rate``; ``source`` is the file it came from (None if synthesised)."""

    samples: np.ndarray
    sample_rate: int
    source: Path | None = None

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.ndim != 1:
            raise AudioError(f"Audio samples must be mono (1-D), got shape {samples.shape}")
        self.samples = samples.astype(np.float32, copy=False)
        if self.sample_rate <= 0:
            raise AudioError(f"Audio sample_rate must be positive, got {self.sample_rate}")

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate

    def n_video_frames(self, fps: float = 25) -> int:
        return n_video_frames(self.n_samples, self.sample_rate, fps)


def n_video_frames(n_samples: int, sample_rate: int, fps: float = 25) -> int:
    """Number of video frames that covers ``n_samples`` of audio: ``ceil(n_samples * fps / sample_rate)``.

    Frame ``i`` shows the interval ``[i / fps, (i + 1) / fps)``, so the video is never shorter than the
    audio and at most one frame longer (the last frame's partial remainder is padded with silence
    by :class:`portraittalker.media.video.VideoWriter`). Exact rational arithmetic avoids off-by-one
    frames from float rounding (e.g. 8 s at 16 kHz is exactly 200 frames, not 201).
    """
    if n_samples < 0 or sample_rate <= 0 or fps <= 0:
        raise ValueError(f"n_video_frames: invalid n_samples={n_samples}, sample_rate={sample_rate}, fps={fps}")
    frames = Fraction(int(n_samples)) * Fraction(fps).limit_denominator(1_000_000) / int(sample_rate)
    return math.ceil(frames)


def probe_streams(path: Path) -> list[dict]:
    """ffprobe's stream list for ``path``; :class:`AudioDecodeError` if it is not a media file."""
    result = run_ffprobe(path)
    if result.returncode != 0:
        raise AudioDecodeError(f"{path}: not a media file ffmpeg can read ({stderr_tail(result.stderr)})")
    return probe_json(result).get("streams", [])


def _read_pcm16_wav(path: Path, sample_rate: int, max_duration_s: float | None) -> np.ndarray | None:
    """Mono samples of a 16-bit PCM WAV at ``sample_rate``, or None for anything else (ffmpeg decodes that).

    int16 / 32768 is exactly ffmpeg's s16 -> f32 conversion, and channels are averaged as below, so both paths
    give the same array.
    """
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError):
        return None
    if info.format != "WAV" or info.subtype != "PCM_16" or info.samplerate != sample_rate or info.channels < 1:
        return None
    if max_duration_s is not None and info.duration > max_duration_s + 1e-3:
        raise _too_long(path, info.duration, max_duration_s)
    interleaved, _ = soundfile.read(str(path), dtype="int16", always_2d=True)
    if interleaved.size == 0:
        raise EmptyAudioError(f"{path}: audio stream decodes to zero samples")
    return (interleaved.astype(np.float32) * np.float32(1.0 / 32768.0)).mean(axis=1, dtype=np.float32)


def _decode_with_ffmpeg(path: Path, sample_rate: int, max_duration_s: float | None) -> np.ndarray:
    """Probe for an audio stream, then decode it with ffmpeg to mono float32 at ``sample_rate``."""
    streams = probe_streams(path)
    audio_streams = [s for s in streams if s.get("codec_type") == "audio"]
    if not audio_streams:
        kinds = sorted({str(s.get("codec_type")) for s in streams}) or ["none"]
        raise NoAudioStreamError(f"{path}: has no audio stream (streams found: {', '.join(kinds)})")
    stream = audio_streams[0]
    channels = int(stream.get("channels") or 0)
    if channels <= 0:
        raise AudioDecodeError(f"{path}: audio stream reports {channels} channels")

    probed_duration = _float_or_none(stream.get("duration"))
    if max_duration_s is not None and probed_duration is not None and probed_duration > max_duration_s + 1e-3:
        raise _too_long(path, probed_duration, max_duration_s)

    ffmpeg = require_tool("ffmpeg")
    command = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn", "-sn", "-dn"]
    if max_duration_s is not None:
        # Bound memory when the container does not state a duration: decode just past the limit.
        command += ["-t", f"{max_duration_s + 1.0:.3f}"]
    command += ["-ac", str(channels), "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise AudioDecodeError(f"{path}: ffmpeg could not decode the audio ({stderr_tail(result.stderr)})")

    usable = len(result.stdout) - len(result.stdout) % (4 * channels)
    interleaved = np.frombuffer(result.stdout[:usable], dtype=np.float32)
    if interleaved.size == 0:
        raise EmptyAudioError(f"{path}: audio stream decodes to zero samples")
    samples = interleaved.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    if probed_duration is not None:
        # Lossy codecs decode whole frames (AAC: 1024 samples) past the container's stated end;
        # trimming that padding makes a render's audio re-read at its exact length. A larger
        # excess means the stated duration is an estimate (e.g. VBR MP3), so keep everything.
        stated = math.ceil(probed_duration * sample_rate)
        if 0 < samples.shape[0] - stated <= CODEC_PADDING_TOLERANCE_S * sample_rate:
            samples = samples[:stated]
    return samples


def load_audio(
    path: str | Path,
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    max_duration_s: float | None = DEFAULT_MAX_DURATION_S,
) -> Audio:
    """Decode the first audio stream of ``path`` (audio file or video) to mono float32 at ``sample_rate``.

    Channels are averaged (ffmpeg's own ``-ac 1`` downmix scales stereo by 1/√2, changing loudness).
    Raises an :class:`AudioError` subclass for a missing file, no audio stream, undecodable data,
    empty audio, or audio longer than ``max_duration_s`` (``audio.max_duration_s``; None = no limit).
    Digitally silent audio only warns (:class:`SilentAudioWarning`): it renders as a closed mouth.
    """
    path = Path(path)
    if not path.exists():
        raise AudioFileNotFound(_symlink_problem(path) or f"audio file not found: {path}")
    if not path.is_file():
        raise AudioDecodeError(f"{path}: is not a regular file")
    if path.stat().st_size == 0:
        raise EmptyAudioError(f"{path}: file is empty (0 bytes)")

    samples = _read_pcm16_wav(path, sample_rate, max_duration_s)
    if samples is None:
        samples = _decode_with_ffmpeg(path, sample_rate, max_duration_s)
    if not np.isfinite(samples).all():
        raise AudioDecodeError(f"{path}: decoded audio contains NaN or infinite samples")

    audio = Audio(samples=samples, sample_rate=sample_rate, source=path)
    if max_duration_s is not None and audio.duration_s > max_duration_s + 1e-3:
        raise _too_long(path, audio.duration_s, max_duration_s, at_least=True)
    if float(np.abs(samples).max()) < SILENCE_PEAK:
        warnings.warn(
            f"{path}: audio is silent (peak below {SILENCE_PEAK:g}); the talking head will keep its mouth closed",
            SilentAudioWarning,
            stacklevel=2,
        )
    else:
        problem = speech_presence_problem(samples, sample_rate)
        if problem is not None:
            warnings.warn(f"{path}: does not sound like speech ({problem}); the lips will not follow words",
                          NotSpeechWarning, stacklevel=2)
    return audio


# Speech-presence check thresholds, set on real speech in 8 languages (shared/data: 40 clips, also with white
# noise down to 0 dB SNR and music under it: none flagged) against white/pink noise, tones, chords and melodies.
SPEECH_MIN_SECONDS = 1.0
SPEECH_MAX_ANALYSED_S = 60.0
SPEECH_SYLLABLE_BAND_HZ = (2.0, 8.0)
SPEECH_MIN_SYLLABLE_RATIO = 0.2  # speech 0.30-0.81; noise and steady chords about 0.1
SPEECH_MAX_FLATNESS = 0.4  # 20th-percentile spectral flatness: speech < 0.3 even at 0 dB SNR; white noise 0.53
SPEECH_MIN_FLUX = 1.1  # median log-spectrum change per 10 ms: speech 1.46-1.78; held or plucked notes < 0.9
SPEECH_ACTIVE_DB = 50.0  # frames this far below the loud ones are pauses: left out of flatness and flux


def speech_presence_problem(samples: np.ndarray, sample_rate: int) -> str | None:
    """Why ``samples`` do not sound like speech, or None if they might (a cheap check, no model, ~10 ms per 8 s).

    Speech has a syllable rhythm (energy envelope modulated at 2-8 Hz), some tonal (voiced) frames, and a
    spectrum that keeps changing (formant transitions). Noise lacks the first two, steady music the last.
    Clips shorter than a second are not judged.
    """
    samples = np.asarray(samples, dtype=np.float64)[: int(SPEECH_MAX_ANALYSED_S * sample_rate)]
    hop = sample_rate // 100
    window = 2 * hop
    n_frames = (samples.shape[0] - window) // hop + 1
    if samples.shape[0] < SPEECH_MIN_SECONDS * sample_rate or n_frames < 100:
        return None
    frames = np.lib.stride_tricks.sliding_window_view(samples, window)[::hop][:n_frames]
    power = np.abs(np.fft.rfft(frames * np.hanning(window), axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(window, 1 / sample_rate)
    power = power[:, (freqs >= 100) & (freqs <= 4000)]
    energy = power.sum(axis=1)
    active = energy > np.percentile(energy, 95) * 10 ** (-SPEECH_ACTIVE_DB / 10)  # not (near-)digital silence
    if active.sum() < 50:
        return None
    log_power = np.log(power)
    flatness = (np.exp(log_power.mean(axis=1)) / power.mean(axis=1))[active]
    envelope = np.sqrt(energy)
    envelope = (envelope - envelope.mean()) * np.hanning(envelope.shape[0])
    modulation = np.abs(np.fft.rfft(envelope)) ** 2
    mod_freqs = np.fft.rfftfreq(envelope.shape[0], 1 / 100)
    total = modulation[(mod_freqs >= 0.5) & (mod_freqs <= 50)].sum()
    low, high = SPEECH_SYLLABLE_BAND_HZ
    syllable_ratio = modulation[(mod_freqs >= low) & (mod_freqs <= high)].sum() / max(total, 1e-30)
    shape = log_power - log_power.mean(axis=1, keepdims=True)
    both_active = active[1:] & active[:-1]
    flux = float(np.median(np.sqrt(((shape[1:] - shape[:-1]) ** 2).mean(axis=1))[both_active])) \
        if both_active.any() else 0.0
    if float(np.percentile(flatness, 20)) > SPEECH_MAX_FLATNESS:
        return "noise-like spectrum"
    if syllable_ratio < SPEECH_MIN_SYLLABLE_RATIO:
        return "no syllable rhythm at 2-8 Hz"
    if flux < SPEECH_MIN_FLUX:
        return "steady tones, like music"
    return None


def _symlink_problem(path: Path) -> str:
    """What is wrong with a path that does not exist but is a (broken) symlink; ``""`` if it is none."""
    if not path.is_symlink():
        return ""
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"audio file {path} is a symlink loop (it leads back to itself), not a file"
    return f"audio file {path} is a symlink to {os.readlink(path)}, which does not exist"


def write_wav(path: str | Path, audio: Audio | np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> Path:
    """Write mono float32 WAV atomically (float keeps the samples bit-exact for a later re-read)."""
    samples, rate = (audio.samples, audio.sample_rate) if isinstance(audio, Audio) else (audio, sample_rate)
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise AudioError(f"write_wav expects mono samples, got shape {samples.shape}")
    with atomic_path(path) as tmp:
        soundfile.write(tmp, samples, rate, subtype="FLOAT", format="WAV")
    return Path(path)


def _too_long(path: Path, duration_s: float, limit_s: float, at_least: bool = False) -> AudioTooLongError:
    how_long = f"at least {duration_s:.1f}" if at_least else f"{duration_s:.1f}"
    return AudioTooLongError(
        f"{path}: audio lasts {how_long} s, longer than the limit of {limit_s:g} s "
        "(config key audio.max_duration_s; raise it or split the input)"
    )


def _float_or_none(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
