"""Frame-aligned image metrics against a reference video: PSNR and SSIM (no learned weights).

Only meaningful when generated frame t shows the same moment as reference frame t at the same
size (e.g. a reconstruction of the reference clip); :func:`check_frame_aligned` enforces that.
SSIM is Wang et al. 2004 on the luma (BT.601) channel: 11x11 Gaussian window, sigma 1.5,
K1 = 0.01, K2 = 0.03, data range 255.
"""

from __future__ import annotations

import cv2
import numpy as np

from eval.common import MetricUnavailable


def check_frame_aligned(generated: np.ndarray, reference: np.ndarray, max_frame_difference: int = 1) -> int:
    """Return the number of comparable frames or raise :class:`MetricUnavailable` explaining why not."""
    if generated.shape[1:] != reference.shape[1:]:
        raise MetricUnavailable(f"reference not frame-aligned: size {generated.shape[1:3]} vs {reference.shape[1:3]}")
    if abs(len(generated) - len(reference)) > max_frame_difference:
        raise MetricUnavailable(f"reference not frame-aligned: {len(generated)} vs {len(reference)} frames")
    return min(len(generated), len(reference))


def psnr(generated: np.ndarray, reference: np.ndarray) -> float:
    """Mean over frames of the per-frame PSNR (dB) of uint8 RGB frames; identical frames count as 100 dB."""
    values = []
    for gen, ref in zip(generated, reference, strict=True):
        mse = np.mean((gen.astype(np.float64) - ref.astype(np.float64)) ** 2)
        values.append(100.0 if mse == 0 else 10 * np.log10(255.0**2 / mse))
    return float(np.mean(values))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def ssim_frame(gen: np.ndarray, ref: np.ndarray) -> float:
    x, y = _luma(gen), _luma(ref)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map[5:-5, 5:-5].mean())  # drop the border where the window is truncated


def ssim(generated: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean([ssim_frame(g, r) for g, r in zip(generated, reference, strict=True)]))
