"""LPIPS v0.1 (Zhang et al. 2018, AlexNet backbone) computed by the ``lpips`` package.

``lpips.LPIPS(net="alex", version="0.1")`` called with ``normalize=True`` on RGB in [0, 1], per frame, at
the frames' native resolution (no resize), as the package does. Two user files, nothing downloaded:

* backbone: torchvision's ``alexnet-owt-7be5be79.pth``, loaded strictly into
  ``torchvision.models.alexnet(weights=None)``; its ``features`` layers are copied into the package's
  ``net.slice1..5`` (which hold exactly those torchvision modules, under their ``features`` indices);
* linear: the package's ``weights/v0.1/alex.pth`` (keys ``lin0.model.1.weight`` .. ``lin4.model.1.weight``).

The package is built with ``pretrained=False, pnet_rand=True`` so it neither fetches the ImageNet AlexNet
(torchvision's download) nor reads a linear file itself (its own load is ``strict=False``, which would
accept a file with none of the expected keys); both files are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eval.common import MetricUnavailable, WeightsError, load_into, read_state_dict

BACKBONE_HOW_TO_GET = (
    "download torchvision's AlexNet weights alexnet-owt-7be5be79.pth from "
    "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth and pass its path"
)
LINEAR_HOW_TO_GET = (
    "take weights/v0.1/alex.pth from the installed lpips package (site-packages/lpips/weights/v0.1/alex.pth, or "
    "https://github.com/richzhang/PerceptualSimilarity/tree/master/lpips/weights/v0.1) and pass its path"
)
MIN_SIDE = 31  # smaller inputs leave nothing for AlexNet's second max-pool


def missing_weights_reason(backbone: Path | None, linear: Path | None) -> str:
    """Why LPIPS cannot run when one or both weight paths are not configured (names both files)."""
    parts = []
    if backbone is None:
        parts.append(f"lpips_backbone_weights (alexnet-owt-7be5be79.pth: {BACKBONE_HOW_TO_GET})")
    if linear is None:
        parts.append(f"lpips_linear_weights (lpips v0.1 alex.pth: {LINEAR_HOW_TO_GET})")
    return "no weights given for LPIPS: " + "; ".join(parts)


def _backbone(path: Path) -> Any:
    """torchvision's ``alexnet(weights=None)`` with the user's ``alexnet-owt-7be5be79.pth``, loaded strictly."""
    from torchvision.models import alexnet

    network = alexnet(weights=None)
    load_into(network, read_state_dict(path, "AlexNet backbone weights", BACKBONE_HOW_TO_GET), path,
              "torchvision AlexNet weights")
    return network


def _package_model() -> Any:
    import lpips as lpips_package

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # lpips passes torchvision's deprecated `pretrained=`
        return lpips_package.LPIPS(net="alex", version="0.1", pretrained=False, pnet_rand=True, verbose=False)


def _load_linear(model: Any, path: Path) -> None:
    linear = read_state_dict(path, "LPIPS linear weights", LINEAR_HOW_TO_GET)
    expected = {k for k in model.state_dict() if k.startswith("lin") and not k.startswith("lins.")}
    missing, unknown = sorted(expected - set(linear)), sorted(set(linear) - expected)
    if missing or unknown:
        raise WeightsError(f"{path}: not lpips v0.1 alex.pth linear weights "
                           f"(missing keys {missing[:5]}, unknown keys {unknown[:5]})")
    load_into(model, linear, path, "lpips v0.1 alex.pth linear weights", strict=False)


def check_lpips_file(backbone_path: str | Path | None = None, linear_path: str | Path | None = None) -> None:
    """Read whichever of the two files is given as :func:`load_lpips` would; raises :class:`WeightsError`."""
    if backbone_path is not None:
        _backbone(Path(backbone_path))
    if linear_path is not None:
        _load_linear(_package_model(), Path(linear_path))


def load_lpips(backbone_path: str | Path, linear_path: str | Path, device: str = "cpu") -> Any:
    """``lpips.LPIPS(net="alex", version="0.1")`` with torchvision's AlexNet file and lpips' v0.1 ``alex.pth``."""
    backbone_path, linear_path = Path(backbone_path), Path(linear_path)
    torchvision_alexnet = _backbone(backbone_path)
    model = _package_model()
    # The package's net.slice1..5 hold torchvision's ``features`` modules under their original indices.
    for index in range(1, model.net.N_slices + 1):
        for name, module in getattr(model.net, f"slice{index}").named_children():
            module.load_state_dict(torchvision_alexnet.features[int(name)].state_dict())
    _load_linear(model, linear_path)
    model.requires_grad_(False)
    return model.to(device).eval()


@torch.no_grad()
def lpips_per_frame(model: Any, generated: np.ndarray, reference: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Per-frame LPIPS of two (N, H, W, 3) uint8 RGB arrays of equal shape -> (N,) float64."""
    if generated.shape != reference.shape or generated.ndim != 4 or generated.shape[-1] != 3:
        raise ValueError(f"LPIPS needs two (N, H, W, 3) arrays of equal shape, got {generated.shape} "
                         f"and {reference.shape}")
    if len(generated) == 0:
        raise MetricUnavailable("LPIPS: no frames to compare")
    if min(generated.shape[1:3]) < MIN_SIDE:
        raise MetricUnavailable(f"LPIPS needs frames of at least {MIN_SIDE}x{MIN_SIDE} px, got {generated.shape[1:3]}")
    device = next(model.parameters()).device

    def to_tensor(frames: np.ndarray) -> torch.Tensor:  # torchvision ToTensor: RGB in [0, 1]
        return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous().float().div(255.0) \
            .to(device)

    out = []
    for start in range(0, len(generated), batch_size):
        stop = start + batch_size
        distance = model(to_tensor(generated[start:stop]), to_tensor(reference[start:stop]), normalize=True)
        out.append(distance.flatten().cpu().double().numpy())
    return np.concatenate(out)


def lpips(model: Any, generated: np.ndarray, reference: np.ndarray, batch_size: int = 8) -> float:
    """Mean over frames of the per-frame LPIPS (lower = more similar; identical frames give 0)."""
    return float(lpips_per_frame(model, generated, reference, batch_size).mean())
