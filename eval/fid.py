"""FID and KID on Inception-v3 pool3 (2048-d) features, pytorch-fid's FID network without torchvision.

The network reproduces pytorch-fid's ``fid_inception_v3`` (torchvision's Inception-v3 layout with the
TF-FID patches: average pools that exclude padding, max pool in the last block); parameter names
match ``pt_inception-2015-12-05-6726825d.pth`` so that file loads as is (its ``fc.*`` classifier is
ignored). Input: RGB in [0, 1], bilinearly resized to 299x299 and scaled to [-1, 1], as pytorch-fid.

Frame protocol (see :class:`FIDConfig`): every ``frame_stride``-th frame, at most
``max_frames_per_video`` per video, full frame (``crop="full"``) or a square face crop from the
MediaPipe box grown by ``face_crop_scale`` (``crop="face"``); generated frames are compared with
the frames of the reference videos. A 2048-d covariance needs >= 2048 frames per set to be of full
rank; fewer frames give a biased FID (reported, flagged in the report).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from scipy import linalg
from torch import nn

from eval.common import WeightsError, interpolate_nans, read_state_dict

INCEPTION_HOW_TO_GET = (
    "download pt_inception-2015-12-05-6726825d.pth from "
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/ and pass its path"
)
FEATURE_DIM = 2048


class FIDConfig(BaseModel):
    crop: str = Field("full", pattern="^(full|face)$", description="full frame or MediaPipe face crop")
    face_crop_scale: float = Field(1.4, gt=0, description="face crop side = scale x max(box w, h)")
    frame_stride: int = Field(1, ge=1, description="use every n-th frame")
    max_frames_per_video: int = Field(0, ge=0, description="0 = all sampled frames")
    batch_size: int = Field(16, ge=1)
    kid_subset_size: int = Field(1000, ge=2)
    kid_subsets: int = Field(100, ge=1)


class BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, **kwargs: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _avg_pool_tf(x: torch.Tensor) -> torch.Tensor:
    # TF's average pool ignores padded zeros (the FID patch).
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, self.branch_pool(_avg_pool_tf(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), branch3x3dbl, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            dbl = layer(dbl)
        return torch.cat([self.branch1x1(x), branch7x7, dbl, self.branch_pool(_avg_pool_tf(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([branch3x3, branch7x7x3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FIDInceptionE(nn.Module):
    """InceptionE; ``max_pool=True`` is the second (Mixed_7c) block of the FID network."""

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        dbl = torch.cat([self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl)], 1)
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool_tf(x)
        return torch.cat([self.branch1x1(x), b3, dbl, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """Inception-v3 up to the final average pool: (B, 3, H, W) RGB in [0, 1] -> (B, 2048)."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        self.Mixed_7c = FIDInceptionE(2048, max_pool=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)


def load_inception(path: str | Path, device: str = "cpu") -> FIDInceptionV3:
    """Load pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (weights_only) into the FID network."""
    path = Path(path)
    state = read_state_dict(path, "Inception weights", INCEPTION_HOW_TO_GET)
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "AuxLogits."))}
    model = FIDInceptionV3()
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    if unknown or missing:
        raise WeightsError(f"{path}: not pytorch-fid Inception weights (unknown {unknown[:5]}, missing {missing[:5]})")
    bad = [k for k, v in state.items() if v.shape != own[k].shape]
    if bad:
        raise WeightsError(f"{path}: shape mismatch for {bad[:5]}")
    model.load_state_dict(state, strict=False)
    return model.to(device).eval()


@torch.no_grad()
def inception_features(model: FIDInceptionV3, frames_rgb: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, 2048) float64 pool3 features."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(frames_rgb), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(frames_rgb[start:start + batch_size]))
        batch = batch.permute(0, 3, 1, 2).float().div(255.0).to(device)
        out.append(model(batch).cpu().double().numpy())
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


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
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)) (pytorch-fid's numerics, incl. its eps fallback)."""
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: imaginary component {np.max(np.abs(covmean.imag))} in sqrtm")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_from_features(generated: np.ndarray, reference: np.ndarray) -> float:
    if len(generated) < 2 or len(reference) < 2:
        raise ValueError(f"FID needs >= 2 frames per set, got {len(generated)} generated / {len(reference)} reference")
    return frechet_distance(*feature_statistics(generated), *feature_statistics(reference))


def kid_from_features(generated: np.ndarray, reference: np.ndarray, subset_size: int = 1000, subsets: int = 100,
                      seed: int = 0) -> tuple[float, float]:
    """KID (mean, std over subsets): unbiased MMD^2 with the cubic polynomial kernel (x.y / d + 1)^3."""
    n = min(len(generated), len(reference), subset_size)
    if n < 2:
        raise ValueError("KID needs >= 2 frames per set")
    rng = np.random.default_rng(seed)
    dim = generated.shape[1]
    values = []
    for _ in range(subsets):
        x = generated[rng.choice(len(generated), n, replace=False)]
        y = reference[rng.choice(len(reference), n, replace=False)]
        kxx, kyy, kxy = ((a @ b.T / dim + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (n * (n - 1)) - 2 * kxy.mean()
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))
