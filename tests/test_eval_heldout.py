"""Held-out lip-sync scoring: lagged correlation, aligned mouth LMD, per-language mouth statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eval.heldout import aligned_mouth_lmd, lagged_correlation, language_mouth_stats, score_clip, summarise
from portraittalker.face.tracking import CHIN, FOREHEAD, MOUTH_INNER_LOWER, MOUTH_INNER_UPPER, FaceTrack


def _track(opening: np.ndarray, scale: float = 1.0, shift: float = 0.0, seed: int = 0) -> FaceTrack:
    """A face whose 478 landmarks are fixed except the inner lips, which part by ``opening`` (face heights)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(80, 180, (478, 3)).astype(np.float32)
    base[FOREHEAD, :2], base[CHIN, :2] = (128, 40), (128, 220)
    frames = np.repeat(base[None], len(opening), 0)
    frames[:, MOUTH_INNER_UPPER, :2] = (128, 170)
    frames[:, MOUTH_INNER_LOWER, 0] = 128
    frames[:, MOUTH_INNER_LOWER, 1] = 170 + opening * 180
    frames[..., :2] = frames[..., :2] * scale + shift
    n = len(opening)
    return FaceTrack(frames, np.zeros((n, 4), np.float32), np.ones(n, np.int16), 256, 256, 25.0)


def test_lagged_correlation_finds_the_delay() -> None:
    real = np.sin(np.arange(200) / 3.0) + np.random.default_rng(0).normal(0, 0.1, 200)
    late = np.r_[np.zeros(4), real[:-4]]
    best, lag = lagged_correlation(late, real, 8)
    assert lag == 4 and best > 0.95


def test_scores_are_position_and_scale_free() -> None:
    opening = np.abs(np.sin(np.arange(120) / 4.0)) * 0.1
    real = _track(opening)
    same_elsewhere = _track(opening, scale=0.7, shift=30.0)
    scores = score_clip(same_elsewhere, real)
    assert scores["mouth_corr"] == pytest.approx(1.0, abs=1e-6)
    assert scores["open_ratio"] == pytest.approx(1.0, rel=1e-3)
    assert aligned_mouth_lmd(same_elsewhere, real) < 1e-3
    closed = score_clip(_track(opening * 0.2), real)
    assert closed["open_ratio"] == pytest.approx(0.2, rel=1e-3) and closed["lmd_mouth"] > 0.01


def test_summary_has_means_medians_and_margin() -> None:
    table = pd.DataFrame([
        {"clip_id": c, "generator": g, "mouth_corr": v, "mouth_corr_best_lag": v, "lmd_mouth": 1.0, "open_ratio": 1.0}
        for c, g, v in [("a", "model", 0.7), ("b", "model", 0.5), ("a", "baseline", 0.2), ("b", "baseline", 0.4)]])
    summary = summarise(table)
    assert summary["heldout_model_mouth_corr_mean"] == pytest.approx(0.6)
    assert summary["heldout_baseline_mouth_corr_median"] == pytest.approx(0.3)
    assert summary["heldout_model_minus_baseline_mouth_corr"] == pytest.approx(0.3)


def test_language_stats_keep_silence_closed_for_the_baseline(ict_head) -> None:
    from portraittalker.motion.baseline import BaselineLipSync

    stats = language_mouth_stats({"baseline": BaselineLipSync(ict_head).animate}, ict_head, None, silence_s=2.0)
    assert set(stats["language"]) == {"ko (espeak-ng)", "silence"}
    silence = stats[stats["language"] == "silence"].iloc[0]
    korean = stats[stats["language"] == "ko (espeak-ng)"].iloc[0]
    assert silence["open_frac"] == 0.0 and korean["open_frac"] > 0.2 and korean["energy_corr"] > 0.3
