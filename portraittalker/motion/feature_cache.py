"""Whisper features for training clips, computed once and kept on disk by (audio content, encoder, windowing).

``<cache_dir>/<encoder cache key>/<sha256 of the float32 16 kHz samples>.npy`` holds one clip's (T, D)
float16 features. Training reads them instead of re-encoding; the ``features`` DVC stage fills the cache
for every clip (and every augmented copy) of the training datasets, so ``train`` never runs the encoder.
Augmented copies are whole-clip waveform augmentations (speed, VTLP, channel, reverb, noise: see
:func:`~portraittalker.motion.dataset.augment_window`) drawn from a generator seeded by (seed, clip, copy),
so the same configuration always yields the same files.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from portraittalker.media.files import atomic_path
from portraittalker.motion.dataset import AugmentConfig, MotionClip, augment_window
from portraittalker.motion.whisper import WhisperEncoder

log = logging.getLogger(__name__)


def wave_digest(wave: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(wave, dtype=np.float32).tobytes()).hexdigest()[:32]


@dataclass
class FeatureVariant:
    """One encoded version of a clip: (T, D) features and the (T, C) targets on the same clock."""

    features: np.ndarray
    targets: np.ndarray


class FeatureCache:
    """Encode-or-load for waveforms; ``hits``/``misses`` count what a run reused and what it encoded."""

    def __init__(self, cache_dir: str | Path, encoder: WhisperEncoder) -> None:
        self.encoder = encoder
        self.directory = Path(cache_dir) / encoder.cache_key
        self.hits = self.misses = 0

    def features(self, wave: np.ndarray, n_frames: int) -> np.ndarray:
        path = self.directory / f"{wave_digest(wave)}.npy"
        if path.is_file():
            try:
                cached = np.load(path)
                if cached.shape == (n_frames, self.encoder.dim):
                    self.hits += 1
                    return cached.astype(np.float32)
            except (OSError, ValueError) as error:  # a damaged file is re-made, not trusted
                log.warning("feature cache: re-encoding unreadable %s (%s)", path, error)
        features = self.encoder.encode(wave, n_frames)
        self.misses += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, features.astype(np.float16))
        return features.astype(np.float16).astype(np.float32)  # what a cache hit returns: identical either way


def clip_variants(clip: MotionClip, cache: FeatureCache, copies: int, augment: AugmentConfig,
                  seed: int) -> list[FeatureVariant]:
    """The clean clip plus ``copies`` augmented copies, each encoded (through the cache)."""
    variants = [FeatureVariant(cache.features(clip.wave, clip.n_frames), clip.targets)]
    clip_key = int(hashlib.sha256(clip.clip_id.encode()).hexdigest()[:8], 16)
    for copy in range(copies):
        rng = np.random.default_rng([seed, clip_key, copy])
        wave, targets = augment_window(clip.wave, clip.targets, augment, rng)
        n_frames = len(targets)
        wave = np.pad(wave, (0, max(0, n_frames * 640 - len(wave))))[: n_frames * 640]
        variants.append(FeatureVariant(cache.features(wave, n_frames), targets.astype(np.float32)))
    return variants
