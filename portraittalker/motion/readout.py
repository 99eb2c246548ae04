"""A ridge readout from frozen encoder features: the motion model's linear path, fitted in closed form.

On a few minutes of real speech a strongly regularised ridge regression on frozen Whisper features (each frame
with ±``context`` neighbours) follows unseen speakers' mouths better than a transformer trained by SGD from the
same features. So the model starts as that ridge — fitted in closed form before training, kept frozen — and the
transformer learns only the residual (what a linear map of the features cannot say: silence, coarticulation,
smoothness), with the validation split picking both the ridge strength and the epoch.

Shapes: features (T, D) or (B, T, D) -> stacked (…, T, (2·context+1)·D + 1), the last column a constant 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

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


def stack_context_torch(features: Tensor, context: int) -> Tensor:
    """(B, T, D) -> (B, T, (2·context+1)·D + 1): :func:`design_matrix` for batches, edge-padded per row."""
    padded = torch.cat([features[:, :1].expand(-1, context, -1), features,
                        features[:, -1:].expand(-1, context, -1)], dim=1)
    length = features.shape[1]
    parts = [padded[:, i:i + length] for i in range(2 * context + 1)]
    return torch.cat([*parts, features.new_ones(features.shape[0], length, 1)], dim=-1)


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
