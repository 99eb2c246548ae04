"""LPIPS v0.1 (Zhang et al. 2018, AlexNet backbone) without torchvision or the ``lpips`` package.

Reproduces ``lpips.LPIPS(net="alex", version="0.1")`` with ``normalize=True`` inputs: RGB in [0, 1]
scaled to [-1, 1], the package's ScalingLayer, AlexNet ``features`` taps after relu1..relu5,
per-channel unit normalisation, squared differences, 1x1 "lin" layers (no bias), spatial mean, sum
over the five layers. Computed at the frames' native resolution (no resize), as the package does.

Two user files (nothing is downloaded):

* backbone: torchvision's ``alexnet-owt-7be5be79.pth``; its ``features.*`` keys load as is, its
  ``classifier.*`` keys are ignored;
* linear: the lpips package's ``weights/v0.1/alex.pth`` (keys ``lin0.model.1.weight`` ...
  ``lin4.model.1.weight``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from eval.common import MetricUnavailable, WeightsError, read_state_dict

BACKBONE_HOW_TO_GET = (
    "download torchvision's AlexNet weights alexnet-owt-7be5be79.pth from "
    "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth and pass its path"
)
LINEAR_HOW_TO_GET = (
    "take weights/v0.1/alex.pth from the lpips package (PyPI 'lpips', or "
    "https://github.com/richzhang/PerceptualSimilarity/tree/master/lpips/weights/v0.1) and pass its path"
)
# lpips.pretrained_networks.ScalingLayer: maps [-1, 1] inputs to the ImageNet statistics AlexNet expects.
SCALING_SHIFT = (-0.030, -0.088, -0.188)
SCALING_SCALE = (0.458, 0.448, 0.450)
LAYER_CHANNELS = (64, 192, 384, 256, 256)  # relu1..relu5
# torchvision ``features`` indices of the ReLUs whose outputs are tapped (lpips' slice1..slice5 ends).
TAP_AFTER = (1, 4, 7, 9, 11)
MIN_SIDE = 31  # smaller inputs leave nothing for the second max-pool (conv1 output must be >= 7 px)
NORM_EPS = 1e-10  # lpips.normalize_tensor


def missing_weights_reason(backbone: Path | None, linear: Path | None) -> str:
    """Why LPIPS cannot run when one or both weight paths are not configured (names both files)."""
    parts = []
    if backbone is None:
        parts.append(f"lpips_backbone_weights (alexnet-owt-7be5be79.pth: {BACKBONE_HOW_TO_GET})")
    if linear is None:
        parts.append(f"lpips_linear_weights (lpips v0.1 alex.pth: {LINEAR_HOW_TO_GET})")
    return "no weights given for LPIPS: " + "; ".join(parts)


class NetLinLayer(nn.Module):
    """lpips' 1x1 channel weighting; ``model.1`` so the package's keys load (its Dropout is identity at eval)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LPIPSAlex(nn.Module):
    """(B, 3, H, W) RGB in [-1, 1] pairs -> (B,) LPIPS distances."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(SCALING_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALING_SCALE).view(1, 3, 1, 1), persistent=False)
        # torchvision's AlexNet ``features`` layout, so ``features.{0,3,6,8,10}.*`` keys load unchanged.
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),  # unused by LPIPS; kept for the torchvision layout
        )
        for index, channels in enumerate(LAYER_CHANNELS):
            setattr(self, f"lin{index}", NetLinLayer(channels))

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """relu1..relu5 activations of ScalingLayer-normalised ``x`` (in [-1, 1])."""
        x = (x - self.shift) / self.scale
        out = []
        for index, layer in enumerate(self.features[: TAP_AFTER[-1] + 1]):
            x = layer(x)
            if index in TAP_AFTER:
                out.append(x)
        return out

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x0.shape[0], device=x0.device, dtype=x0.dtype)
        for index, (f0, f1) in enumerate(zip(self.taps(x0), self.taps(x1), strict=True)):
            n0 = f0 / (f0.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS)
            n1 = f1 / (f1.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS)
            weighted = getattr(self, f"lin{index}")((n0 - n1) ** 2)
            total = total + weighted.mean(dim=(1, 2, 3))
        return total


def _check_keys(path: Path, what: str, state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    missing = sorted(set(expected) - set(state))
    unknown = sorted(set(state) - set(expected))
    if missing or unknown:
        raise WeightsError(f"{path}: not {what} (missing keys {missing[:5]}, unknown keys {unknown[:5]})")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise WeightsError(f"{path}: key {key!r} has shape {got}, expected {tuple(expected[key].shape)}")


def load_lpips(backbone_path: str | Path, linear_path: str | Path, device: str = "cpu") -> LPIPSAlex:
    """LPIPS-Alex v0.1 from torchvision's ``alexnet-owt-7be5be79.pth`` and lpips' ``v0.1/alex.pth``."""
    backbone_path, linear_path = Path(backbone_path), Path(linear_path)
    model = LPIPSAlex()
    own = model.state_dict()
    backbone = read_state_dict(backbone_path, "AlexNet backbone weights", BACKBONE_HOW_TO_GET)
    backbone = {k: v for k, v in backbone.items() if not k.startswith("classifier.")}
    _check_keys(backbone_path, "torchvision AlexNet weights", backbone,
                {k: v for k, v in own.items() if k.startswith("features.")})
    linear = read_state_dict(linear_path, "LPIPS linear weights", LINEAR_HOW_TO_GET)
    _check_keys(linear_path, "lpips v0.1 alex.pth linear weights", linear,
                {k: v for k, v in own.items() if k.startswith("lin")})
    model.load_state_dict({**backbone, **linear})
    model.requires_grad_(False)
    return model.to(device).eval()


@torch.no_grad()
def lpips_per_frame(model: LPIPSAlex, generated: np.ndarray, reference: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Per-frame LPIPS of two (N, H, W, 3) uint8 RGB arrays of equal shape -> (N,) float64."""
    if generated.shape != reference.shape or generated.ndim != 4 or generated.shape[-1] != 3:
        raise ValueError(f"LPIPS needs two (N, H, W, 3) arrays of equal shape, got {generated.shape} "
                         f"and {reference.shape}")
    if len(generated) == 0:
        raise MetricUnavailable("LPIPS: no frames to compare")
    if min(generated.shape[1:3]) < MIN_SIDE:
        raise MetricUnavailable(f"LPIPS needs frames of at least {MIN_SIDE}x{MIN_SIDE} px, got {generated.shape[1:3]}")
    device = next(model.parameters()).device

    def to_tensor(frames: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().to(device)
        return tensor / 127.5 - 1.0  # [0, 255] -> [-1, 1] (lpips' normalize=True on [0, 1] images)

    out = []
    for start in range(0, len(generated), batch_size):
        stop = start + batch_size
        out.append(model(to_tensor(generated[start:stop]), to_tensor(reference[start:stop])).cpu().double().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def lpips(model: LPIPSAlex, generated: np.ndarray, reference: np.ndarray, batch_size: int = 8) -> float:
    """Mean over frames of the per-frame LPIPS (lower = more similar; identical frames give 0)."""
    return float(lpips_per_frame(model, generated, reference, batch_size).mean())
