"""The few neural-network operations torch-free inference needs, in float32 numpy, matching torch's definitions.

Shapes follow torch's: ``conv1d`` (B, C_in, T) with (C_out, C_in, K) weights; ``linear`` (…, in) with (out, in)
weights; ``attention`` (B, H, T, d) queries, keys and values. Tests compare each with its torch counterpart.
"""

from __future__ import annotations

import numpy as np

# Abramowitz & Stegun 7.1.26: |erf error| <= 1.5e-7, float32's own resolution near 1, so GELU matches torch's exact
# (erf) GELU to ~1e-7 without importing scipy.special (~0.3 s of start-up).
_ERF_P = np.float32(0.3275911)
_ERF_A = [np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)]


def erf(x: np.ndarray) -> np.ndarray:
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * x)
    poly = t * (_ERF_A[0] + t * (_ERF_A[1] + t * (_ERF_A[2] + t * (_ERF_A[3] + t * _ERF_A[4]))))
    return sign * (1.0 - poly * np.exp(-x * x))


def gelu(x: np.ndarray) -> np.ndarray:
    """torch.nn.functional.gelu (the exact, erf form)."""
    return (0.5 * x * (1.0 + erf(x * np.float32(1 / np.sqrt(2.0))))).astype(np.float32, copy=False)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(variance + np.float32(eps)) * weight + bias


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    out = x @ weight.T
    return out if bias is None else out + bias


def conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, *, stride: int = 1, padding: int = 0) -> np.ndarray:
    """(B, C_in, T) -> (B, C_out, T_out), as ``torch.nn.functional.conv1d`` (zero padding)."""
    out_channels, in_channels, kernel = weight.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=2)[:, :, ::stride]  # (B, C, T_out, K)
    columns = windows.transpose(0, 2, 1, 3).reshape(x.shape[0], windows.shape[2], in_channels * kernel)
    out = columns @ weight.reshape(out_channels, -1).T + bias  # (B, T_out, C_out)
    return np.ascontiguousarray(out.transpose(0, 2, 1))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """softmax(q kᵀ / √d + bias) v, as ``torch.nn.functional.scaled_dot_product_attention`` (no dropout)."""
    scores = (q @ k.swapaxes(-1, -2)) * np.float32(1.0 / np.sqrt(q.shape[-1]))
    if bias is not None:
        scores = scores + bias
    return softmax(scores) @ v
