"""The ridge readout (motion/readout.py) and the learned A/V check built on it (data/speech_sync.py)."""

from __future__ import annotations

import numpy as np
import pytest

from portraittalker.data.config import LearnedOffsetConfig
from portraittalker.data.speech_sync import SyncClip, lag_curve, learned_offsets, learned_shift
from portraittalker.motion.readout import design_matrix, fit_ridge, stack_context


def test_design_stacks_neighbours_and_a_bias_column() -> None:
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    design = design_matrix(features, 1)
    assert design.shape == (4, 10) and (design[:, -1] == 1).all()
    assert design[0, :3].tolist() == features[0].tolist()  # the edge repeats frame 0
    assert design[2].tolist()[:9] == [*features[1], *features[2], *features[3]]
    assert stack_context(features, 0).tolist() == features.tolist()


def test_ridge_recovers_a_known_linear_map_and_picks_alpha_on_validation() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(3 * 4 + 1, 2))  # context 1 over 4 features + bias

    def clip(n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
        x = design_matrix(rng.normal(size=(n, 4)), 1)
        return x, x @ truth + noise * rng.normal(size=(n, 2))

    train = [clip(200, 0.1) for _ in range(3)]
    val_x, val_y = clip(200, 0.0)
    solution, alpha, scores = fit_ridge([x for x, _ in train], [y for _, y in train], [1.0, 1.0, 1.0],
                                        lambda w: -float(np.mean((val_x @ w - val_y) ** 2)), alphas=(0.01, 1e4))
    assert alpha == 0.01 and scores[0.01] > scores[1e4]
    np.testing.assert_allclose(solution, truth, atol=0.05)


def test_lag_curve_peaks_where_the_mouth_follows_the_prediction() -> None:
    signal = np.convolve(np.random.default_rng(2).normal(size=300), np.ones(4) / 4, mode="same")
    opening = np.roll(signal, 3)  # the mouth moves 3 frames after the prediction
    curve = lag_curve(signal, opening, max_lag=6)
    assert int(np.nanargmax(curve)) - 6 == 3


@pytest.mark.parametrize("shift", [4, -5])
def test_learned_offsets_find_one_shifted_speaker_among_aligned_ones(shift: int) -> None:
    """Speech features drive the mouth through a fixed linear map; one speaker's audio is off by ``shift``."""
    rng = np.random.default_rng(3)
    mapping = rng.normal(size=6)
    clips = []
    for speaker in range(5):
        features = np.apply_along_axis(lambda c: np.convolve(c, np.ones(3) / 3, "same"), 0, rng.normal(size=(260, 6)))
        opening = features @ mapping + 0.1 * rng.normal(size=260)
        if speaker == 0:  # audio leads by `shift` frames: the mouth happens `shift` frames after its sound
            opening = np.roll(opening, shift)
        clips.append(SyncClip(f"c{speaker}", f"s{speaker}", opening[20:-20], design_matrix(features[20:-20], 2)))
    found = learned_offsets(clips, {c.clip_id for c in clips}, LearnedOffsetConfig(alpha=1.0, max_lag=8))
    assert found["c0"][0] == shift and found["c0"][1] > 0.3
    assert all(found[f"c{i}"][0] == 0 for i in range(1, 5))


def test_learned_check_corrects_confident_residuals_of_two_frames_or_more() -> None:
    config = LearnedOffsetConfig(min_confidence=0.3, shift_min_frames=2)
    assert learned_shift(2, 0.48, config) == 2 and learned_shift(-5, 0.31, config) == -5
    assert learned_shift(1, 0.9, config) == 0  # within lip-sync tolerance: left alone
    assert learned_shift(3, 0.2, config) == 0  # not confident enough
    assert learned_shift(2, 0.9, LearnedOffsetConfig(shift_min_frames=3)) == 0
