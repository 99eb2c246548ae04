"""Train-time speech augmentation: determinism per seed, shapes, audio-motion alignment, training hooks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from portraittalker.motion.dataset import AugmentConfig, _vtlp_source_bins, augment_window, time_stretch
from portraittalker.motion.features import SAMPLE_RATE, SAMPLES_PER_FRAME, FrontEndConfig, MelFrontEnd
from portraittalker.motion.train import LossWeights, MotionLoss, TrainConfig, _sample_batch, train_motion_model

ALL_ON = AugmentConfig(enabled=True, speed_prob=1.0, vtlp_prob=1.0, band_limit_prob=1.0, reverb_prob=1.0,
                       noise_prob=1.0)


def bursts(n_frames: int, on_frames: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """A wave with a 200 Hz burst in the given frames, and a 1-D "motion" that is 1 in exactly those frames."""
    wave = np.zeros(n_frames * SAMPLES_PER_FRAME, dtype=np.float32)
    motion = np.zeros((n_frames, 1), dtype=np.float32)
    t = np.arange(SAMPLES_PER_FRAME) / SAMPLE_RATE
    for f in on_frames:
        wave[f * SAMPLES_PER_FRAME:(f + 1) * SAMPLES_PER_FRAME] = 0.5 * np.sin(2 * np.pi * 200 * t)
        motion[f] = 1.0
    return wave, motion


def frame_energy(wave: np.ndarray) -> np.ndarray:
    return (wave.reshape(-1, SAMPLES_PER_FRAME).astype(np.float64) ** 2).mean(1)


def test_augmentation_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    wave, motion = bursts(50, [10, 11, 30])
    a = augment_window(wave, motion, ALL_ON, np.random.default_rng(3))
    b = augment_window(wave, motion, ALL_ON, np.random.default_rng(3))
    c = augment_window(wave, motion, ALL_ON, np.random.default_rng(4))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[0].shape != c[0].shape or not np.allclose(a[0], c[0])
    assert a[0].dtype == np.float32 and np.isfinite(a[0]).all()


@pytest.mark.parametrize("seed", range(4))
def test_augmentation_keeps_audio_and_motion_on_one_clock(seed: int) -> None:
    wave, motion = bursts(60, [12, 13, 14, 40, 41])
    out_wave, out_motion = augment_window(wave, motion, ALL_ON.model_copy(update={"noise_prob": 0.0}),
                                          np.random.default_rng(seed))
    assert out_wave.shape == (len(out_motion) * SAMPLES_PER_FRAME,)
    assert 50 <= len(out_motion) <= 70  # speed within 0.88..1.12
    energy = frame_energy(out_wave)
    # The loudest frames of the augmented audio are the frames where the stretched motion is high.
    loud = energy > 0.25 * energy.max()
    assert out_motion[loud, 0].mean() > 0.5
    assert out_motion[~loud, 0].mean() < 0.15


def test_time_stretch_maps_frames_and_checks_lengths() -> None:
    wave, motion = bursts(40, [20])
    motion[:, 0] = np.arange(40)
    new_wave, new_motion = time_stretch(wave, motion, 20)  # 2x speed
    assert new_wave.shape == (20 * SAMPLES_PER_FRAME,) and new_motion.shape == (20, 1)
    assert np.allclose(new_motion[:, 0], np.arange(20) * 2 + 0.5)
    assert int(frame_energy(new_wave).argmax()) == 10  # the burst moved with the motion
    with pytest.raises(ValueError, match="samples"):
        time_stretch(wave[:-1], motion, 20)


def test_vtlp_warp_is_monotonic_and_fixes_the_ends() -> None:
    for alpha in (0.88, 1.0, 1.12):
        source = _vtlp_source_bins(257, alpha)
        assert source[0] == 0 and source[-1] == 256
        assert np.all(np.diff(source) > 0)
    assert _vtlp_source_bins(257, 1.1)[50] == pytest.approx(50 / 1.1)  # formants move up by alpha


def test_disabled_augmentation_leaves_the_window_untouched(ict_head) -> None:
    from types import SimpleNamespace

    wave, motion = bursts(30, [5])
    clip = SimpleNamespace(n_frames=30, targets=motion, wave=wave, kind="synthetic", speaker_id="s")
    config = TrainConfig(batch_size=2, window_frames=30)
    waves, targets, mask, _ = _sample_batch([clip], config, np.random.default_rng(0), {})
    assert np.array_equal(waves[0].numpy(), wave) and mask.all()
    augmented = config.model_copy(update={"augment": ALL_ON})
    waves, targets, mask, _ = _sample_batch([clip], augmented, np.random.default_rng(0), {})
    assert waves.shape == (2, 30 * SAMPLES_PER_FRAME) and targets.shape == (2, 30, 1)
    assert (~mask[:, :-10]).sum() == 0  # at most 1.12x speed-up of a 30-frame clip shortens it by 4 frames


def test_real_weight_oversamples_real_clips() -> None:
    from types import SimpleNamespace

    def clip(kind: str):
        wave, motion = bursts(20, [])
        return SimpleNamespace(n_frames=20, targets=motion + (kind == "real"), wave=wave, kind=kind, speaker_id=kind)

    clips = [clip("synthetic")] * 9 + [clip("real")]
    for weight, expected in ((1.0, 0.1), (9.0, 0.5)):
        config = TrainConfig(batch_size=400, window_frames=20, real_weight=weight)
        _, targets, _, _ = _sample_batch(clips, config, np.random.default_rng(0), {})
        assert float(targets[:, 0, 0].mean()) == pytest.approx(expected, abs=0.07)


def test_per_bin_normalisation_removes_a_fixed_channel_colour() -> None:
    rng = np.random.default_rng(0)
    wave = torch.from_numpy(rng.normal(0, 0.1, 16000).astype(np.float32))[None]
    spectrum = torch.fft.rfft(wave)
    coloured = torch.fft.irfft(spectrum * torch.linspace(0.3, 3.0, spectrum.shape[-1]), n=wave.shape[-1])
    error = {}
    for normalise in ("per_bin", "utterance"):
        front = MelFrontEnd(FrontEndConfig(conv_channels=8, normalise=normalise), 8)
        mel = [front.logmel(w)[:, 3:-3] for w in (wave, coloured)]  # away from the zero-padded edges
        dims = front.norm_dims
        a, b = ((m - m.mean(dims, keepdim=True)) / m.std(dims, keepdim=True) for m in mel)
        error[normalise] = float((a - b).abs().mean())
    assert error["per_bin"] < 0.2 * error["utterance"]


def test_mouth_open_loss_is_zero_at_the_target_and_positive_elsewhere(ict_head) -> None:
    from portraittalker.motion.checkpoint import head_identity
    from portraittalker.motion.model import MotionModel, MotionModelConfig

    model = MotionModel(MotionModelConfig(front_end=FrontEndConfig(conv_channels=8), d_model=8, n_layers=1,
                                          n_heads=2), head_identity(ict_head))
    loss = MotionLoss(model, ict_head, LossWeights(mouth_open=1.0))
    targets = torch.zeros(1, 5, len(model.columns))
    targets[0, :, model.columns.index("jaw_rot_x")] = torch.linspace(0, 0.3, 5)
    mask = torch.ones(1, 5, dtype=torch.bool)
    assert float(loss(model.normalise(targets), targets, mask)["mouth_open"]) == pytest.approx(0, abs=1e-6)
    assert float(loss(model.normalise(targets * 0), targets, mask)["mouth_open"]) > 1.0
    assert float(loss.mouth_open(targets)[0, -1]) > float(loss.mouth_open(targets)[0, 0]) + 3  # mm


def test_training_with_augmentation_is_deterministic(tmp_path: Path, ict_head) -> None:
    from portraittalker.motion.dataset import make_toy_corpus
    from portraittalker.motion.model import MotionModelConfig

    data = make_toy_corpus(tmp_path / "toy", ict_head, n_speakers=3, clips_per_speaker=1, seconds=2.0)
    config = TrainConfig(model=MotionModelConfig(front_end=FrontEndConfig(conv_channels=8, normalise="per_bin"),
                                                 d_model=8, n_layers=1, n_heads=2, ff_mult=1),
                         max_epochs=1, steps_per_epoch=2, batch_size=2, window_frames=25, warmup_steps=1,
                         device="cpu", augment=ALL_ON, real_weight=2.0, loss=LossWeights(mouth_open=0.01))
    runs = [train_motion_model([data], tmp_path / f"run{i}", config, progress=False, head=ict_head) for i in range(2)]
    timing = "train_frames_per_s"
    assert [{k: v for k, v in r.best_metrics.items() if k != timing} for r in runs] == \
        [{k: v for k, v in runs[0].best_metrics.items() if k != timing}] * 2
    assert np.isfinite(runs[0].best_metrics["val_total"])
