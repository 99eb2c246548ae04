"""Motion-model checkpoints: tensors + JSON-able metadata, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a dict with ``format``, ``model_config`` (:class:`MotionModelConfig` as JSON), ``head``
(name, expression names and a fingerprint of the head's lip geometry), ``style_names``, ``state_dict``
(an ensemble's also holds its other members under ``others.<i>.`` and the payload says ``ensemble_members``;
the packaged copy stores weight matrices as int8 with per-row ``int8_scales``) and, for training checkpoints,
``training`` (epoch, history, …) and ``optimizer`` state. Loading a checkpoint for a head model whose identity
differs raises :class:`HeadMismatchError`.
Models with a wav2vec2/HuBERT front end store its weights too, but rebuilding them needs the
encoder's ``config.json`` at ``front_end.pretrained_path``. Models with a Whisper front end do not store the
frozen encoder: their ``front_end.encoder_id`` names its weights (checksum), checked when it is loaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from portraittalker.errors import PortraitTalkerError
from portraittalker.head.base import HeadModel
from portraittalker.io_utils import atomic_path
from portraittalker.motion.model import MotionEnsemble, MotionModel, MotionModelConfig, VertexSubsetDeformer

CHECKPOINT_FORMAT = "portraittalker.motion-model/1"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "default.pt"  # the packaged model `--motion model` loads


class CheckpointError(PortraitTalkerError, ValueError):
    """A file is not a readable motion-model checkpoint."""


class HeadMismatchError(CheckpointError):
    """The checkpoint was trained for a different head model than the one it is used with."""


def head_fingerprint(head: HeadModel) -> str:
    """sha256 over the head's name, expression names, lip-vertex ids and lip geometry/bases."""
    digest = hashlib.sha256()
    digest.update(json.dumps([head.name, list(head.expression_names), int(head.n_vertices)]).encode())
    lips = head.lip_vertices.cpu()
    digest.update(lips.numpy().astype(np.int64).tobytes())
    deformer = VertexSubsetDeformer(head, lips)
    if deformer.fast:  # exact stored data: identical bytes on every machine
        for name in ("neutral", "expression_basis", "driven_basis"):
            digest.update(getattr(deformer, name).numpy().astype(np.float32).tobytes())
    else:  # computed geometry, rounded to 10 µm so floating-point noise cannot change the hash
        params = head.neutral_params(1 + head.n_expression)
        params.expression[1:] = torch.eye(head.n_expression)
        with torch.no_grad():
            vertices = deformer(params).numpy()
        digest.update(np.round(vertices * 1e5).astype(np.int64).tobytes())
    return digest.hexdigest()


def head_identity(head: HeadModel) -> dict[str, Any]:
    return {"name": head.name, "expression_names": list(head.expression_names), "fingerprint": head_fingerprint(head)}


def check_head(identity: dict[str, Any], head: HeadModel, source: str = "checkpoint") -> None:
    if identity["name"] != head.name or list(identity["expression_names"]) != list(head.expression_names):
        raise HeadMismatchError(
            f"{source} was trained for head model {identity['name']!r} ({len(identity['expression_names'])} "
            f"expressions), not {head.name!r} ({head.n_expression} expressions)"
        )
    if identity["fingerprint"] != head_fingerprint(head):
        raise HeadMismatchError(
            f"{source} was trained for a different version of head model {head.name!r} "
            "(same name and expressions but different geometry; fingerprint mismatch)"
        )


def save_checkpoint(path: str | Path, model: MotionModel, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (+ optional JSON-able/tensor ``extra`` entries) atomically."""
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "model_config": model.config.model_dump(mode="json"),
        "head": model.head_identity,
        "style_names": model.style_names,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **({"ensemble_members": model.n_members} if isinstance(model, MotionEnsemble) else {}),
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"motion-model checkpoint not found: {path} (train one with `portraittalker train` or `dvc repro train`)"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # pickle errors of any kind: corrupt file or non-tensor content
        raise CheckpointError(f"{path} is not a readable motion-model checkpoint: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not a motion-model checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT})"
        )
    return payload


INT8_MIN_ELEMENTS = 4096  # smaller tensors (norms, biases, buffers) stay float32


def write_packaged_checkpoint(source: str | Path, target: str | Path) -> Path:
    """Copy a checkpoint for shipping inside the package: its weight matrices stored as int8 with one float32 scale
    per output row (4x smaller: the three-member default is 3.0 MB instead of 11.4). On 8 real clips every motion
    column of the default keeps a correlation >= 0.9998 with the float model's (worst frame 1.5% of a column's
    range); :func:`model_from_payload` restores float32 weights."""
    payload = read_checkpoint(source)
    state, scales = {}, {}
    for key, value in payload["state_dict"].items():
        if value.is_floating_point() and value.ndim >= 2 and value.numel() >= INT8_MIN_ELEMENTS:
            rows = value.float().reshape(value.shape[0], -1)
            scale = (rows.abs().amax(1) / 127.0).clamp_min(1e-12)
            state[key] = torch.round(rows / scale[:, None]).to(torch.int8).reshape(value.shape)
            scales[key] = scale
        else:
            state[key] = value
    payload = {**payload, "state_dict": state, "int8_scales": scales}
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    return Path(target)


def _dequantised(payload: dict[str, Any]) -> dict[str, torch.Tensor]:
    scales = payload.get("int8_scales") or {}
    return {key: (value.float() * scales[key].reshape(-1, *([1] * (value.ndim - 1))) if key in scales else value)
            for key, value in payload["state_dict"].items()}


def model_from_payload(payload: dict[str, Any]) -> MotionModel:
    config = MotionModelConfig.model_validate(payload["model_config"])
    members = int(payload.get("ensemble_members", 1))
    if members > 1:
        model: MotionModel = MotionEnsemble(config, payload["head"], style_names=payload.get("style_names"),
                                            n_members=members)
    else:
        model = MotionModel(config, payload["head"], style_names=payload.get("style_names"))
    model.load_state_dict(_dequantised(payload))
    model.eval()
    return model


def load_motion_model(
    path: str | Path, head: HeadModel | None = None, device: str | torch.device = "cpu",
    encoder_path: str | None = None,
) -> MotionModel:
    """Load a trained :class:`MotionModel`; with ``head`` given, refuse a checkpoint made for another head.

    Whisper-front-end models load their encoder now (not at the first frame), from ``encoder_path`` when given,
    so a missing or mismatched encoder is reported before any rendering.
    """
    payload = read_checkpoint(path)
    if head is not None:
        check_head(payload["head"], head, source=f"checkpoint {path}")
    model = model_from_payload(payload)
    if model.uses_features:
        front = model.config.front_end
        if encoder_path is not None:
            front.encoder = front.encoder.model_copy(update={"path": encoder_path})
        model.speech_encoder()
    return model.to(device)
