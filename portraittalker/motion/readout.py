"""Ridge regression from frozen encoder features (each frame with ±``context`` neighbours), in closed form.

Used by the linear probe the motion model must beat (``eval/probe.py``) and by the learned A/V-offset check of
``prepare`` (:mod:`portraittalker.data.speech_sync`). Shapes: features (T, D) -> design (T, (2·context+1)·D + 1),
the last column a constant 1 (its weight, the intercept, is not penalised).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# Ridge strengths tried on validation; the best ones on 2.8 min of real speech are 1e3-3e4 (features ~O(1)).
ALPHAS = (100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)


def stack_context(features: np.ndarray, context: int) -> np.ndarray:
    """(T, D) -> (T, (2·context+1)·D): each frame with its neighbours (edges repeat the end frames)."""
    padded = np.pad(features, ((context, context), (0, 0)), mode="edge")
    return np.concatenate([padded[i:i + len(features)] for i in range(2 * context + 1)], axis=1)


def design_matrix(features: np.ndarray, context: int) -> np.ndarray:
    """(T, D) -> (T, (2·context+1)·D + 1) float64: stacked context and a bias column."""
    stacked = stack_context(np.asarray(features, np.float64), context)
    return np.concatenate([stacked, np.ones((len(stacked), 1))], axis=1)


def fit_ridge(
    designs: Sequence[np.ndarray], targets: Sequence[np.ndarray], weights: Sequence[float],
    score: Callable[[np.ndarray], float], alphas: Sequence[float] = ALPHAS,
) -> tuple[np.ndarray, float, dict[float, float]]:
    """Weighted ridge ``targets ≈ designs @ W`` for each alpha; keep the one ``score(W)`` rates highest.

    ``designs[i]`` (T_i, F) with ``targets[i]`` (T_i, C) and sample weight ``weights[i]``; the bias column
    (last) is not penalised. Returns (W (F, C), chosen alpha, {alpha: score}).
    """
    width = designs[0].shape[1]
    gram = np.zeros((width, width))
    rhs = np.zeros((width, targets[0].shape[1]))
    for x, y, w in zip(designs, targets, weights, strict=True):
        gram += w * (x.T @ x)
        rhs += w * (x.T @ np.asarray(y, np.float64))
    penalty = np.eye(width)
    penalty[-1, -1] = 0.0
    scores: dict[float, float] = {}
    best: tuple[float, np.ndarray, float] | None = None
    for alpha in alphas:
        solution = np.linalg.solve(gram + alpha * penalty, rhs)
        scores[alpha] = float(score(solution))
        if best is None or scores[alpha] > best[0]:
            best = (scores[alpha], solution, alpha)
    assert best is not None
    return best[1], best[2], scores
