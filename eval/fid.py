"""FID with ``pytorch-fid`` and KID with ``torchmetrics``, both on pytorch-fid's Inception-v3 pool3 (2048-d) features.

* Network: ``pytorch_fid.inception.InceptionV3([3])`` (the TF-FID Inception, resize to 299 bilinear, inputs
  RGB in [0, 1] scaled to [-1, 1]), its weights from the user's ``pt_inception-2015-12-05-6726825d.pth``.
  pytorch-fid's only way to load them is ``load_state_dict_from_url`` (a download): :func:`load_inception`
  reads the local file with ``torch.load(weights_only=True)`` and hands that state dict to the package in
  place of the download (``unittest.mock.patch`` of that one function, for the constructor call only); the
  package then loads it strictly.
* Features: as ``pytorch_fid.fid_score.get_activations`` (``model(batch)[0]``, float64 array).
* FID: ``pytorch_fid.fid_score.calculate_frechet_distance`` on the mean and ``np.cov`` of each set.
* KID: ``torchmetrics.image.kid.KernelInceptionDistance`` with an identity feature extractor, fed the same
  pool3 features (so Inception runs once per frame and torchmetrics never builds its own, downloaded, network).

Frame protocol (see :class:`FIDConfig`): every ``frame_stride``-th frame, at most
``max_frames_per_video`` per video, full frame (``crop="full"``) or a square face crop from the
MediaPipe box grown by ``face_crop_scale`` (``crop="face"``); generated frames are compared with
the frames of the reference videos. A 2048-d covariance needs >= 2048 frames per set to be of full
rank; fewer frames give a biased FID (reported, flagged in the report).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

from eval.common import WeightsError, interpolate_nans, read_state_dict
from eval.schema import DIMS, FEATURE_DIM, FIDConfig

INCEPTION_HOW_TO_GET = (
    "download pt_inception-2015-12-05-6726825d.pth from "
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/ and pass its path"
)


def load_inception(path: str | Path, device: str = "cpu", dims: int = FEATURE_DIM) -> Any:
    """pytorch-fid's ``InceptionV3`` (the block giving ``dims`` features) with the user's local file, in eval mode."""
    from pytorch_fid import inception as fid_inception

    path = Path(path)
    state = read_state_dict(path, "Inception weights", INCEPTION_HOW_TO_GET)

    def local_file(url: str, *args: object, **kwargs: object) -> dict:
        if url != fid_inception.FID_WEIGHTS_URL:
            raise RuntimeError(f"pytorch-fid asked for {url}; only the local FID Inception file is available")
        return state

    if dims not in DIMS:
        raise ValueError(f"Inception feature dims must be one of {DIMS}, got {dims}")
    block = fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]
    try:
        with mock.patch.object(fid_inception, "load_state_dict_from_url", local_file):
            model = fid_inception.InceptionV3([block])
    except RuntimeError as error:
        message = " ".join(str(error).split())
        raise WeightsError(f"{path}: not pytorch-fid Inception weights ({message[:600]})") from error
    return model.to(device).eval()


@torch.no_grad()
def inception_features(model: Any, frames_rgb: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, dims) float64 features (pytorch-fid ``get_activations``; 2048 = pool3)."""
    from torch.nn.functional import adaptive_avg_pool2d

    dims = {index: dim for dim, index in model.BLOCK_INDEX_BY_DIM.items()}[model.output_blocks[-1]]
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(frames_rgb), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(frames_rgb[start:start + batch_size]))
        # torchvision ToTensor: contiguous NCHW (a permuted, channels-last tensor would take other conv kernels)
        batch = batch.permute(0, 3, 1, 2).contiguous().float().div(255.0).to(device)
        pred = model(batch)[0]
        if pred.size(2) != 1 or pred.size(3) != 1:
            pred = adaptive_avg_pool2d(pred, output_size=(1, 1))
        out.append(pred.squeeze(3).squeeze(2).cpu().numpy().astype(np.float64))
    return np.concatenate(out) if out else np.zeros((0, dims))


def sample_frames(frames_rgb: np.ndarray, face_boxes: np.ndarray | None, config: FIDConfig) -> np.ndarray:
    """Frames used for FID per the protocol: stride, cap, and full frame or square face crop."""
    indices = np.arange(0, len(frames_rgb), config.frame_stride)
    if config.max_frames_per_video:
        indices = indices[np.linspace(0, len(indices) - 1, min(len(indices), config.max_frames_per_video)).astype(int)]
    if config.crop == "full":
        return frames_rgb[indices]
    if face_boxes is None:
        raise ValueError("face crop protocol needs face boxes")
    boxes = interpolate_nans(face_boxes)
    crops = []
    for index in indices:
        box = boxes[index]
        if not np.isfinite(box).all():
            continue
        side = config.face_crop_scale * max(box[2] - box[0], box[3] - box[1])
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        crops.append(_square_crop(frames_rgb[index], cx, cy, side, 299))
    return np.stack(crops) if crops else np.zeros((0, 299, 299, 3), np.uint8)


def _square_crop(rgb: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    import cv2

    half = side / 2
    x0, y0 = round(cx - half), round(cy - half)
    s = max(round(side), 1)
    pad = max(0, -x0, -y0, x0 + s - rgb.shape[1], y0 + s - rgb.shape[0])
    padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else rgb
    crop = padded[y0 + pad:y0 + pad + s, x0 + pad:x0 + pad + s]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pytorch-fid ``calculate_activation_statistics``: mean and ``np.cov(rowvar=False)``."""
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def fid_from_features(generated: np.ndarray, reference: np.ndarray) -> float:
    """FID by ``pytorch_fid.fid_score.calculate_frechet_distance`` (its eps fallback and imaginary-part check)."""
    from pytorch_fid.fid_score import calculate_frechet_distance
    from scipy.linalg import LinAlgWarning

    if len(generated) < 2 or len(reference) < 2:
        raise ValueError(f"FID needs >= 2 frames per set, got {len(generated)} generated / {len(reference)} reference")
    # With fewer frames than feature dims the covariances are singular: scipy warns and pytorch-fid prints that it
    # adds eps to the diagonal. evaluate() reports that case as a note (biased FID), so both are kept quiet here.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", LinAlgWarning)
        return float(calculate_frechet_distance(*feature_statistics(generated), *feature_statistics(reference)))


def kid_from_features(generated: np.ndarray, reference: np.ndarray, subset_size: int = 1000, subsets: int = 100,
                      seed: int = 0) -> tuple[float, float]:
    """KID (mean, std over subsets) by torchmetrics' ``KernelInceptionDistance`` on precomputed features.

    Cubic polynomial kernel ``(x.y / d + 1)^3``, unbiased MMD^2; each subset draws ``min(subset_size,
    n_generated, n_reference)`` features per set (torchmetrics refuses subsets larger than a set).
    The subset draws use torch's RNG, seeded with ``seed`` inside a forked RNG state.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(len(generated), len(reference), subset_size)
    if n < 2:
        raise ValueError("KID needs >= 2 frames per set")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features in buffer"
        metric = KernelInceptionDistance(feature=torch.nn.Identity(), subsets=subsets, subset_size=n)
    metric.update(torch.from_numpy(np.asarray(generated, dtype=np.float64)), real=False)
    metric.update(torch.from_numpy(np.asarray(reference, dtype=np.float64)), real=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)
