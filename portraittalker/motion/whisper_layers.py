"""Intermediate hidden states of a CTranslate2 Whisper encoder, run from the same ``model.bin`` in numpy or torch.

CTranslate2 returns only the encoder's last output, but for lip motion the middle blocks carry more (on the real
corpus a ridge from the hidden states after blocks 2-3 of tiny.en follows unseen speakers' mouths better than one from
the final output: leave-one-speaker-out correlation 0.59 vs 0.54). So :func:`read_ct2_encoder` reads the encoder's
variables from the CTranslate2 binary and :class:`NumpyWhisperEncoder` (CPU: no torch, so ``generate`` starts without
it) or :class:`TorchWhisperEncoder` (GPU) runs the standard Whisper encoder (two convolutions + sinusoidal positions,
pre-norm blocks, final norm) up to the deepest block asked for. The final output matches CTranslate2's (cosine > 0.999
on real speech; the rest is CTranslate2's int8), and the two agree to float32 rounding.

Shapes: log-mel (B, n_mels, T100) -> (B, T100 / 2, len(layers) · d_model), 50 Hz.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.motion import numpy_ops as ops

if TYPE_CHECKING:
    from torch import Tensor

# CTranslate2's DataType enum (include/ctranslate2/types.h)
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class CT2FormatError(PortraitTalkerError, ValueError):
    """A CTranslate2 ``model.bin`` this reader cannot use (other version, quantisation or architecture)."""


def _u32(handle: BinaryIO) -> int:
    return struct.unpack("<I", handle.read(4))[0]


def _string(handle: BinaryIO) -> str:
    length = struct.unpack("<H", handle.read(2))[0]
    return handle.read(length).decode("utf-8").rstrip("\0")


def read_ct2_encoder(path: Path) -> dict[str, np.ndarray]:
    """The ``encoder/…`` variables of a CTranslate2 Whisper ``model.bin`` as float32 arrays (prefix dropped)."""
    variables: dict[str, np.ndarray] = {}
    scales: dict[str, np.ndarray] = {}
    with open(path, "rb") as handle:
        version = _u32(handle)
        if version < 5:
            raise CT2FormatError(f"{path}: CTranslate2 model format {version} is too old (need >= 5)")
        spec = _string(handle)
        if spec != "WhisperSpec":
            raise CT2FormatError(f"{path} holds a {spec}, not a Whisper model")
        _u32(handle)  # spec revision
        for _ in range(_u32(handle)):
            name = _string(handle)
            dims = [_u32(handle) for _ in range(handle.read(1)[0])]
            dtype = handle.read(1)[0]
            size = _u32(handle)
            if not name.startswith("encoder/"):  # the decoder: most of the file, never read
                handle.seek(size, 1)
                continue
            raw = handle.read(size)
            if dtype not in _DTYPES:
                raise CT2FormatError(f"{path}: variable {name} has unsupported type {dtype}")
            values = np.frombuffer(raw, _DTYPES[dtype]).reshape(dims)
            if name.endswith("weight_scale"):
                scales[name[len("encoder/"):-len("_scale")]] = values.astype(np.float32)
            else:
                variables[name[len("encoder/"):]] = values.astype(np.float32)
    for name, scale in scales.items():  # int8 weights: w = q / scale, one scale per output row
        variables[name] = variables[name] / scale.reshape(-1, *([1] * (variables[name].ndim - 1)))
    if "conv1/weight" not in variables:
        raise CT2FormatError(f"{path} has no Whisper encoder variables")
    return variables


class _WhisperEncoderBase:
    """Shape checks, layer bookkeeping and the forward pass, written once: the numpy and torch encoders run the
    same sequence of operations through the primitives each defines (``_gelu``, ``_conv1d``, ``_norm``,
    ``_linear``, ``_attention``, ``_permute``, ``_concat_to_numpy``) on its own arrays."""

    def __init__(self, weights: dict[str, np.ndarray], layers: Sequence[int]) -> None:
        self.n_blocks = sum(1 for k in weights if k.endswith("ffn/linear_0/weight"))
        if not layers or min(layers) < 0 or max(layers) > self.n_blocks:
            raise CT2FormatError(f"layers {list(layers)} outside 0..{self.n_blocks} (0: after the convolutions, "
                                 f"{self.n_blocks}: the last block)")
        heads = weights.get("num_heads")
        self.dim = int(weights["conv1/weight"].shape[0])
        self.n_heads = int(np.asarray(heads).item()) if heads is not None and np.size(heads) == 1 else self.dim // 64
        self.n_mels = int(weights["conv1/weight"].shape[1])
        self.layers = tuple(layers)
        self.weights: dict = {}

    def _forward(self, x) -> np.ndarray:
        """(B, n_mels, T100) log-mel -> (B, T100 / 2, len(layers) · dim) float32 numpy."""
        x = self._gelu(self._conv1d(x, "conv1", stride=1))
        x = self._permute(self._gelu(self._conv1d(x, "conv2", stride=2)), (0, 2, 1))
        x = x + self.weights["position_encodings/encodings"][: x.shape[1]]
        states = {0: x}
        for block in range(max(self.layers)):
            prefix = f"layer_{block}/self_attention"
            qkv = self._linear(self._norm(x, f"{prefix}/layer_norm"), f"{prefix}/linear_0")
            batch, length, _ = qkv.shape
            q, k, v = self._permute(qkv.reshape(batch, length, 3, self.n_heads, -1), (2, 0, 3, 1, 4))
            attended = self._permute(self._attention(q, k, v), (0, 2, 1, 3)).reshape(batch, length, -1)
            x = x + self._linear(attended, f"{prefix}/linear_1")
            prefix = f"layer_{block}/ffn"
            hidden = self._gelu(self._linear(self._norm(x, f"{prefix}/layer_norm"), f"{prefix}/linear_0"))
            x = x + self._linear(hidden, f"{prefix}/linear_1")
            states[block + 1] = x
        if self.n_blocks in self.layers:  # the last block's state is the encoder output, after the final norm
            states[self.n_blocks] = self._norm(states[self.n_blocks], "layer_norm")
        return self._concat_to_numpy([states[i] for i in self.layers])


class NumpyWhisperEncoder(_WhisperEncoderBase):
    """Whisper's encoder on CTranslate2 weights in float32 numpy: the hidden states after the given blocks."""

    def __init__(self, weights: dict[str, np.ndarray], layers: Sequence[int]) -> None:
        super().__init__(weights, layers)
        self.weights = {k: np.ascontiguousarray(v, np.float32) for k, v in weights.items() if np.ndim(v) > 0}

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        return self._forward(np.ascontiguousarray(mel, np.float32))

    def _gelu(self, x: np.ndarray) -> np.ndarray:
        return ops.gelu(x)

    def _conv1d(self, x: np.ndarray, prefix: str, stride: int) -> np.ndarray:
        return ops.conv1d(x, self.weights[f"{prefix}/weight"], self.weights[f"{prefix}/bias"], stride=stride,
                          padding=1)

    def _norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return ops.layer_norm(x, self.weights[f"{prefix}/gamma"], self.weights[f"{prefix}/beta"])

    def _linear(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return ops.linear(x, self.weights[f"{prefix}/weight"], self.weights[f"{prefix}/bias"])

    def _attention(self, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        return ops.attention(q, k, v)

    def _permute(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        return x.transpose(axes)

    def _concat_to_numpy(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts, axis=-1).astype(np.float32, copy=False)


class TorchWhisperEncoder(_WhisperEncoderBase):
    """The same encoder in torch, for GPUs (dataset-scale feature extraction)."""

    def __init__(self, weights: dict[str, np.ndarray], layers: Sequence[int], device: str = "cpu") -> None:
        import torch

        super().__init__(weights, layers)
        self.weights = {k: torch.from_numpy(np.array(v)).to(device) for k, v in weights.items()  # a writable copy
                        if np.ndim(v) > 0}
        self.device = device

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self._forward(torch.from_numpy(np.ascontiguousarray(mel, np.float32)).to(self.device))

    def _gelu(self, x: Tensor) -> Tensor:
        import torch.nn.functional as F

        return F.gelu(x)

    def _conv1d(self, x: Tensor, prefix: str, stride: int) -> Tensor:
        import torch.nn.functional as F

        return F.conv1d(x, self.weights[f"{prefix}/weight"], self.weights[f"{prefix}/bias"], stride=stride, padding=1)

    def _norm(self, x: Tensor, prefix: str) -> Tensor:
        import torch.nn.functional as F

        return F.layer_norm(x, x.shape[-1:], self.weights[f"{prefix}/gamma"], self.weights[f"{prefix}/beta"], 1e-5)

    def _linear(self, x: Tensor, prefix: str) -> Tensor:
        import torch.nn.functional as F

        return F.linear(x, self.weights[f"{prefix}/weight"], self.weights[f"{prefix}/bias"])

    def _attention(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        import torch.nn.functional as F

        return F.scaled_dot_product_attention(q, k, v)

    def _permute(self, x: Tensor, axes: tuple[int, ...]) -> Tensor:
        return x.permute(*axes)

    def _concat_to_numpy(self, parts: list[Tensor]) -> np.ndarray:
        import torch

        return torch.cat(parts, dim=-1).cpu().numpy()
