"""The SyncNet network of joonson/syncnet_python (``SyncNetModel.S``), re-implemented layer for layer.

Module and parameter names match the original so its ``syncnet_v2.model`` checkpoint (a plain
``torch.save``-d dict of tensors, loaded upstream by ``SyncNetInstance.loadParameters``) loads
unchanged. Audio branch: (B, 1, 13, 20) MFCC windows (0.2 s); lip branch: (B, 3, 5, 224, 224)
BGR 0-255 face crops (5 frames). Both map to ``embedding_dim`` (1024) features.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from eval.common import WeightsError, read_state_dict

SYNCNET_HOW_TO_GET = (
    "download syncnet_v2.model with joonson/syncnet_python's download_model.sh "
    "(http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model) and pass its path"
)


def _conv_bn_relu(conv: nn.Module, bn: nn.Module) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=True)]


class SyncNet(nn.Module):
    """Two-stream SyncNet: ``forward_aud`` (MFCC) and ``forward_lip`` (face crops)."""

    def __init__(self, embedding_dim: int = 1024) -> None:
        super().__init__()
        # Indices inside each Sequential must stay as upstream: they are the checkpoint keys.
        self.netcnnaud = nn.Sequential(
            *_conv_bn_relu(nn.Conv2d(1, 64, (3, 3), (1, 1), (1, 1)), nn.BatchNorm2d(64)),
            nn.MaxPool2d((1, 1), (1, 1)),
            *_conv_bn_relu(nn.Conv2d(64, 192, (3, 3), (1, 1), (1, 1)), nn.BatchNorm2d(192)),
            nn.MaxPool2d((3, 3), (1, 2)),
            *_conv_bn_relu(nn.Conv2d(192, 384, (3, 3), padding=(1, 1)), nn.BatchNorm2d(384)),
            *_conv_bn_relu(nn.Conv2d(384, 256, (3, 3), padding=(1, 1)), nn.BatchNorm2d(256)),
            *_conv_bn_relu(nn.Conv2d(256, 256, (3, 3), padding=(1, 1)), nn.BatchNorm2d(256)),
            nn.MaxPool2d((3, 3), (2, 2)),
            *_conv_bn_relu(nn.Conv2d(256, 512, (5, 4), padding=(0, 0)), nn.BatchNorm2d(512)),
        )
        self.netfcaud = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embedding_dim),
        )
        self.netfclip = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embedding_dim),
        )
        self.netcnnlip = nn.Sequential(
            *_conv_bn_relu(nn.Conv3d(3, 96, (5, 7, 7), (1, 2, 2), 0), nn.BatchNorm3d(96)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn_relu(nn.Conv3d(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), nn.BatchNorm3d(256)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
            *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
            *_conv_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn_relu(nn.Conv3d(256, 512, (1, 6, 6), padding=0), nn.BatchNorm3d(512)),
        )

    def forward_aud(self, mfcc: torch.Tensor) -> torch.Tensor:
        """(B, 1, 13, 20) MFCC windows -> (B, embedding_dim)."""
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def forward_lip(self, crops: torch.Tensor) -> torch.Tensor:
        """(B, 3, 5, 224, 224) BGR 0-255 crops -> (B, embedding_dim)."""
        return self.netfclip(self.netcnnlip(crops).flatten(1))


def load_syncnet(path: str | Path, device: str = "cpu") -> SyncNet:
    """Load ``syncnet_v2.model`` (a dict of tensors) into :class:`SyncNet`, in eval mode.

    Loading uses ``torch.load(weights_only=True)``: a checkpoint that needs arbitrary unpickling
    (a pickled module) is rejected. Keys must be SyncNet keys with matching shapes; only BatchNorm
    ``num_batches_tracked`` counters (absent from old checkpoints, unused in eval) may be missing.
    """
    path = Path(path)
    state = read_state_dict(path, "SyncNet weights", SYNCNET_HOW_TO_GET)
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: expected a dict of tensors (syncnet_v2.model format), got {type(state).__name__}")
    embedding_dim = int(state["netfcaud.3.weight"].shape[0]) if "netfcaud.3.weight" in state else 1024
    model = SyncNet(embedding_dim)
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    if unknown or missing:
        raise WeightsError(f"{path}: not a SyncNet checkpoint (unknown keys {unknown[:5]}, missing keys {missing[:5]})")
    for name, tensor in state.items():
        if own[name].shape != tensor.shape:
            expected = tuple(own[name].shape)
            raise WeightsError(f"{path}: {name} has shape {tuple(tensor.shape)}, SyncNet needs {expected}")
        own[name].copy_(tensor)
    return model.to(device).eval()
