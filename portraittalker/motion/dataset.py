"""Training data for the motion model, read from prepared dataset directories (:mod:`portraittalker.data.tables`).

Each accepted clip becomes a :class:`MotionClip`: its 16 kHz mono waveform (padded/cut to exactly
``n_frames * 640`` samples so audio and motion share one clock) and its per-frame motion targets.
For synthetic corpora the targets come from ``truth.parquet`` (the parameters the clip was rendered
from) when ``prefer_truth`` is set, else from the fitted values in ``frames.parquet``; a synthetic
corpus not yet fitted by ``prepare`` (no ``frames.parquet``) is usable with ``prefer_truth``.

:func:`make_toy_corpus` writes a small dataset directory in the same layout whose "speech" is
synthesised from the motion (syllable envelopes drive jaw opening, vowel classes drive lip shape),
for tests and benchmarks that must run without prepared real data.

:class:`AugmentConfig` / :func:`augment_window` perturb training windows so a model trained mostly on
synthetic (espeak) speech transfers to natural recordings: speed perturbation with the motion
time-stretched to match, VTLP-style frequency warping, random spectral tilt/EQ/band-limiting,
light synthetic reverb, additive noise and gain. Every draw comes from the caller's generator, so
training stays deterministic per seed, and no step moves speech in time relative to the motion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from portraittalker.dataset_layout import CLIPS_FILE, DATASET_METADATA_KEY, FRAMES_FILE, TRUTH_FILE
from portraittalker.errors import PortraitTalkerError
from portraittalker.head.base import HeadModel
from portraittalker.media.files import atomic_path
from portraittalker.motion.config import AugmentConfig
from portraittalker.motion.features import SAMPLE_RATE, SAMPLES_PER_FRAME, resample_to_model_rate
from portraittalker.motion.schema import FPS, MotionTable, motion_columns


class MotionDatasetError(PortraitTalkerError, ValueError):
    """A dataset directory is missing files, has the wrong head model or inconsistent tables."""


@dataclass
class MotionClip:
    clip_id: str
    speaker_id: str
    language: str
    split: str
    kind: str  # "real" (targets fitted to video) or "synthetic" (truth.parquet exists for it)
    dataset_dir: Path
    wave: np.ndarray  # (n_frames * 640,) float32, 16 kHz mono
    targets: np.ndarray  # (n_frames, len(columns)) float32
    # Whisper models: encoded versions of the clip (clean first, then augmented copies), see feature_cache.
    variants: list | None = None

    @property
    def n_frames(self) -> int:
        return len(self.targets)


def read_dataset_metadata(path: Path) -> dict:
    raw = (pq.read_schema(path).metadata or {}).get(DATASET_METADATA_KEY)
    return json.loads(raw) if raw else {}


def load_wave(path: str | Path) -> np.ndarray:
    """Any soundfile-readable audio -> 16 kHz mono float32."""
    path = Path(path)
    if not path.is_file():
        raise MotionDatasetError(f"audio file not found: {path}")
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    return resample_to_model_rate(samples.mean(axis=1), rate)


def fit_wave(wave: np.ndarray, n_frames: int) -> np.ndarray:
    return fit_length(wave, n_frames * SAMPLES_PER_FRAME)


def load_motion_clips(
    data_dirs: list[Path],
    head_name: str,
    expression_names: list[str],
    columns: list[str],
    prefer_truth: bool = True,
    splits: tuple[str, ...] | None = None,
) -> list[MotionClip]:
    """Every ``ok`` clip (optionally only ``splits``) of every dataset, with targets in ``columns`` order.

    A clip id met again in a later dataset is skipped: a synthetic corpus listed before the prepared dataset
    that re-fitted its videos contributes its exact truth once, not a second, fitted copy.
    """
    clips: list[MotionClip] = []
    seen: set[str] = set()
    for data_dir in map(Path, data_dirs):
        clips_path, frames_path, truth_path = (data_dir / n for n in (CLIPS_FILE, FRAMES_FILE, TRUTH_FILE))
        if not clips_path.is_file():
            raise MotionDatasetError(f"dataset {data_dir} lacks {CLIPS_FILE} (run the prepare stage first)")
        if not frames_path.is_file() and not (prefer_truth and truth_path.is_file()):
            raise MotionDatasetError(f"dataset {data_dir} lacks {FRAMES_FILE} (run the prepare stage first)")
        meta = read_dataset_metadata(frames_path if frames_path.is_file() else clips_path)
        if meta and (meta.get("head_model") != head_name or list(meta.get("expression_names", [])) !=
                     list(expression_names)):
            raise MotionDatasetError(
                f"dataset {data_dir} was fitted with head model {meta.get('head_model')!r} "
                f"({len(meta.get('expression_names', []))} expressions), not {head_name!r} "
                f"({len(expression_names)} expressions)"
            )
        table = pd.read_parquet(clips_path)
        table = table[(table["status"] == "ok") & ~table["clip_id"].isin(seen)]
        seen.update(table["clip_id"])
        if splits is not None:
            table = table[table["split"].isin(splits)]
        if table.empty:
            continue
        wanted = set(table["clip_id"])
        frames = _read_motion(frames_path, columns, wanted) if frames_path.is_file() else {}
        truth = _read_motion(truth_path, columns, wanted) if truth_path.is_file() else {}
        for row in table.itertuples(index=False):
            has_truth = row.clip_id in truth
            synthetic = has_truth or getattr(row, "source", "") == "synthetic"
            source = truth if has_truth and (prefer_truth or row.clip_id not in frames) else frames
            if row.clip_id not in source:
                raise MotionDatasetError(f"clip {row.clip_id!r} of {data_dir} has no rows in {FRAMES_FILE}")
            targets = source[row.clip_id]
            wave = load_wave(data_dir / row.audio_path)
            clips.append(MotionClip(
                clip_id=str(row.clip_id), speaker_id=str(row.speaker_id), language=str(row.language),
                split=str(row.split), kind="synthetic" if synthetic else "real", dataset_dir=data_dir,
                wave=fit_wave(wave, len(targets)), targets=targets,
            ))
    return clips


def _read_motion(path: Path, columns: list[str], clip_ids: set[str]) -> dict[str, np.ndarray]:
    schema_names = set(pq.read_schema(path).names)
    missing = [c for c in columns if c not in schema_names]
    if missing:
        raise MotionDatasetError(f"{path} lacks motion columns {missing[:6]}")
    table = pd.read_parquet(path, columns=["clip_id", "frame", *columns])
    table = table[table["clip_id"].isin(clip_ids)].sort_values(["clip_id", "frame"], kind="stable")
    result: dict[str, np.ndarray] = {}
    for clip_id, group in table.groupby("clip_id", sort=False):
        frames = group["frame"].to_numpy()
        if not np.array_equal(frames, np.arange(len(frames))):
            raise MotionDatasetError(f"{path}: frames of clip {clip_id!r} are not 0..N-1")
        values = group[columns].to_numpy(dtype=np.float32, copy=True)
        if not np.isfinite(values).all():
            raise MotionDatasetError(f"{path}: clip {clip_id!r} has non-finite motion values")
        result[str(clip_id)] = values
    return result


# --- a self-contained toy corpus in the dataset layout ------------------------------------------------

_VOWELS = {  # formant pairs (Hz) and the lip shape each vowel class drives
    "a": ((800, 1200), {}),
    "i": ((300, 2300), {"mouthStretch_L": 0.5, "mouthStretch_R": 0.5, "mouthSmile_L": 0.3, "mouthSmile_R": 0.3}),
    "u": ((320, 800), {"mouthFunnel": 0.6, "mouthPucker": 0.7}),
}


def _toy_clip(head: HeadModel, seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, MotionTable]:
    n_frames = round(seconds * FPS)
    n_samples = n_frames * SAMPLES_PER_FRAME
    t = np.arange(n_samples) / SAMPLE_RATE
    envelope = np.zeros(n_samples)
    wave = np.zeros(n_samples)
    shapes = {name: np.zeros(n_samples) for name in ("jaw", *{k for _, s in _VOWELS.values() for k in s})}
    f0 = rng.uniform(100, 220)
    cursor = rng.uniform(0.05, 0.3)
    while cursor < seconds - 0.3:
        duration = rng.uniform(0.12, 0.3)
        vowel = rng.choice(list(_VOWELS))
        (f1, f2), lips = _VOWELS[vowel]
        loudness = rng.uniform(0.5, 1.0)
        i0, i1 = int(cursor * SAMPLE_RATE), int((cursor + duration) * SAMPLE_RATE)
        bump = np.sin(np.linspace(0, np.pi, i1 - i0)) ** 2 * loudness
        envelope[i0:i1] = np.maximum(envelope[i0:i1], bump)
        seg_t = t[i0:i1]
        pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * seg_t))
        harmonics = sum(np.sin(2 * np.pi * k * pitch * seg_t) * (np.exp(-((k * f0 - f1) / 200) ** 2) +
                        0.6 * np.exp(-((k * f0 - f2) / 300) ** 2) + 0.05) for k in range(1, 30))
        wave[i0:i1] += harmonics * bump
        shapes["jaw"][i0:i1] = np.maximum(shapes["jaw"][i0:i1], bump * (0.6 if vowel == "a" else 0.3))
        for name, weight in lips.items():
            shapes[name][i0:i1] = np.maximum(shapes[name][i0:i1], bump * weight)
        # A short fricative burst before some syllables: speech-like noise that opens the mouth little.
        if rng.random() < 0.4 and i0 > 800:
            wave[i0 - 800:i0] += rng.normal(0, 0.15, 800) * np.hanning(800)
        cursor += duration + rng.uniform(0.02, 0.25)
    wave = wave / (np.abs(wave).max() + 1e-9) * 0.5 + rng.normal(0, 0.003, n_samples)

    def per_frame(signal: np.ndarray) -> np.ndarray:
        return signal.reshape(n_frames, SAMPLES_PER_FRAME).mean(axis=1)

    table = MotionTable.zeros(n_frames, head)
    data = table.frame_data
    data["jaw_rot_x"] = per_frame(shapes["jaw"]) * 0.3
    for name, signal in shapes.items():
        if name != "jaw" and f"exp_{name}" in data:
            data[f"exp_{name}"] = per_frame(signal)
    energy = per_frame(envelope)
    walk = np.cumsum(rng.normal(0, 0.004, (n_frames, 3)), axis=0)
    data["head_rot_x"] = 0.05 * np.convolve(energy, np.ones(10) / 10, mode="same") + walk[:, 0] * 0.5
    data["head_rot_y"] = walk[:, 1]
    data["head_rot_z"] = walk[:, 2] * 0.3
    data["exp_browInnerUp_L"] = data["exp_browInnerUp_R"] = 0.3 * np.convolve(energy, np.ones(8) / 8, mode="same")
    table.validate()
    return wave.astype(np.float32), table


def make_toy_corpus(
    out_dir: str | Path, head: HeadModel, n_speakers: int = 4, clips_per_speaker: int = 3, seconds: float = 6.0,
    seed: int = 0, languages: tuple[str, ...] = ("en", "de"),
) -> Path:
    """Write a synthetic dataset directory (clips, frames, truth parquet + wavs) with audio-driven motion.

    Speakers are split train/val/test (the last two speakers go to val and test when there are >= 3).
    ``frames.parquet`` holds the truth plus small noise, as a fitting stage would produce.
    """
    out = Path(out_dir)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, frame_tables, truth_tables = [], [], []
    columns = motion_columns(head.expression_names)
    for s in range(n_speakers):
        split = "train" if s < max(1, n_speakers - 2) else ("val" if s == n_speakers - 2 else "test")
        for c in range(clips_per_speaker):
            clip_id = f"toy_s{s}_c{c}"
            wave, table = _toy_clip(head, seconds, rng)
            sf.write(out / "audio" / f"{clip_id}.wav", wave, SAMPLE_RATE, subtype="FLOAT")
            truth = table.frame_data.copy()
            truth.insert(0, "clip_id", clip_id)
            fitted = truth.copy()
            fitted[columns[2:]] += rng.normal(0, 0.01, (len(fitted), len(columns) - 2)).astype(np.float32)
            truth_tables.append(truth)
            frame_tables.append(fitted)
            rows.append({
                "clip_id": clip_id, "source": "toy", "speaker_id": f"toy_speaker_{s}",
                "language": languages[s % len(languages)], "split": split, "n_frames": len(table), "fps": FPS,
                "duration_s": len(table) / FPS, "audio_path": f"audio/{clip_id}.wav", "video_path": "",
                "status": "ok", "reason": "", "fit_error_px": 0.0, "input_hash": f"toy-{seed}-{s}-{c}",
            })
    meta = {"head_model": head.name, "expression_names": list(head.expression_names), "fps": FPS,
            "image_size": 512}
    for name, frame in ((CLIPS_FILE, pd.DataFrame(rows)), (FRAMES_FILE, pd.concat(frame_tables)),
                        (TRUTH_FILE, pd.concat(truth_tables))):
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), DATASET_METADATA_KEY: json.dumps(meta)})
        with atomic_path(out / name) as tmp:
            pq.write_table(arrow, tmp)
    return out


# --- train-time augmentation ------------------------------------------------------------------------


_STFT_FFT, _STFT_HOP = 512, 128


def time_stretch(wave: np.ndarray, targets: np.ndarray, out_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample a (n*640,) window and its (n, D) motion to ``out_frames`` frames (speed factor n/out_frames).

    The wave is resampled band-limited (pitch and formants move with the tempo, as in Kaldi's speed
    perturbation); the motion is linearly interpolated at the output frame centres, so audio and motion
    stay on one clock.
    """
    from scipy.signal import resample

    n_frames = len(targets)
    if len(wave) != n_frames * SAMPLES_PER_FRAME:
        raise ValueError(f"wave has {len(wave)} samples, expected {n_frames} frames * {SAMPLES_PER_FRAME}")
    if out_frames < 1:
        raise ValueError(f"out_frames must be >= 1, got {out_frames}")
    if out_frames == n_frames:
        return wave, targets
    new_wave = resample(wave.astype(np.float64), out_frames * SAMPLES_PER_FRAME).astype(np.float32)
    speed = n_frames / out_frames
    source_t = np.clip((np.arange(out_frames) + 0.5) * speed - 0.5, 0, n_frames - 1)
    frame_t = np.arange(n_frames)
    new_targets = np.stack([np.interp(source_t, frame_t, targets[:, d]) for d in range(targets.shape[1])], axis=1)
    return new_wave, new_targets.astype(np.float32)


def _vtlp_source_bins(n_bins: int, alpha: float) -> np.ndarray:
    """Source frequency (in bins) for each output bin under VTLP warping f -> alpha*f, Nyquist fixed.

    Piecewise linear as in Jaitly & Hinton: scale by alpha up to a boundary, then a line to Nyquist.
    """
    nyquist = n_bins - 1
    boundary = 0.8 * nyquist * min(alpha, 1.0) / alpha  # source frequency where the straight scaling ends
    out = np.arange(n_bins, dtype=np.float64)
    warped_boundary = alpha * boundary
    below = out <= warped_boundary
    source = np.empty(n_bins)
    source[below] = out[below] / alpha
    source[~below] = boundary + (out[~below] - warped_boundary) * (nyquist - boundary) / (nyquist - warped_boundary)
    return np.clip(source, 0, nyquist)


def _channel_gain(freqs_hz: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A random smooth magnitude response: tilt + peaking bands + optional band-limiting."""
    octaves = np.log2(np.maximum(freqs_hz, 20.0) / 1000.0)
    gain_db = rng.uniform(-config.tilt_db_per_octave, config.tilt_db_per_octave) * octaves
    for _ in range(config.eq_bands):
        centre = rng.uniform(np.log2(150 / 1000), np.log2(6000 / 1000))
        width = rng.uniform(0.3, 1.5)  # octaves
        gain_db = gain_db + rng.uniform(-config.eq_db, config.eq_db) * np.exp(-0.5 * ((octaves - centre) / width) ** 2)
    gain = 10.0 ** (gain_db / 20.0)
    if rng.random() < config.band_limit_prob:
        high_cut, low_cut = rng.uniform(3400, 7500), rng.uniform(60, 300)
        gain = gain / np.sqrt(1 + (freqs_hz / high_cut) ** 8) / np.sqrt(1 + (low_cut / np.maximum(freqs_hz, 1)) ** 4)
    return gain


def _spectral_augment(wave: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """VTLP warp and channel colouring in the STFT domain, resynthesised with the original length."""
    from scipy.signal import istft, stft

    _, _, spec = stft(wave, fs=SAMPLE_RATE, nperseg=_STFT_FFT, noverlap=_STFT_FFT - _STFT_HOP, boundary="even")
    n_bins = spec.shape[0]
    if rng.random() < config.vtlp_prob:
        source = _vtlp_source_bins(n_bins, float(rng.uniform(*config.vtlp_range)))
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, n_bins - 1)
        frac = (source - low)[:, None]
        # Interpolate magnitudes; take the phase of the nearer source bin (phases do not interpolate).
        magnitude = (1 - frac) * np.abs(spec[low]) + frac * np.abs(spec[high])
        phase = np.angle(spec[np.where(frac[:, 0] < 0.5, low, high)])
        spec = magnitude * np.exp(1j * phase)
    spec = spec * _channel_gain(np.linspace(0, SAMPLE_RATE / 2, n_bins), config, rng)[:, None]
    _, out = istft(spec, fs=SAMPLE_RATE, nperseg=_STFT_FFT, noverlap=_STFT_FFT - _STFT_HOP, boundary=True)
    return fit_length(out, len(wave))


def fit_length(wave: np.ndarray, n_samples: int) -> np.ndarray:
    if len(wave) >= n_samples:
        return np.ascontiguousarray(wave[:n_samples])
    return np.pad(wave, (0, n_samples - len(wave)))


def _reverb(wave: np.ndarray, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import fftconvolve

    length = int(rt60_s * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    impulse = rng.normal(0, 1, length) * np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    impulse[0] = 0.0
    impulse *= rng.uniform(0.1, 0.5) / (np.sqrt((impulse ** 2).sum()) + 1e-9)  # reverberant-to-direct ratio
    impulse[0] = 1.0  # the direct path at lag 0: speech does not move relative to the motion
    return fftconvolve(wave, impulse)[: len(wave)]


def _noise(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """White-to-pink noise: a random spectral slope between 0 (white) and -3 dB/octave (pink)."""
    spectrum = np.fft.rfft(rng.normal(0, 1, n_samples))
    freqs = np.fft.rfftfreq(n_samples, 1 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, 20.0) ** (-0.5 * rng.uniform(0, 1))
    noise = np.fft.irfft(spectrum, n_samples)
    return noise / (noise.std() + 1e-12)


def augment_window(
    wave: np.ndarray, targets: np.ndarray, config: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented training window: (n*640,) wave + (n, D) motion -> possibly time-stretched copies.

    Speed perturbation returns ``round(n / speed)`` frames (callers pad or crop); every other step keeps
    the length and the audio-motion alignment.
    """
    if rng.random() < config.speed_prob:
        speed = float(rng.uniform(*config.speed_range))
        wave, targets = time_stretch(wave, targets, max(1, round(len(targets) / speed)))
    out = _spectral_augment(wave.astype(np.float64), config, rng)
    if rng.random() < config.reverb_prob:
        out = _reverb(out, float(rng.uniform(*config.rt60_range_s)), rng)
    if rng.random() < config.noise_prob:
        rms = np.sqrt(np.mean(out ** 2)) + 1e-9
        snr_db = rng.uniform(*config.snr_range_db)
        out = out + _noise(len(out), rng) * rms * 10.0 ** (-snr_db / 20.0)
    out = out * 10.0 ** (rng.uniform(-config.gain_db, config.gain_db) / 20.0)
    return out.astype(np.float32), targets
