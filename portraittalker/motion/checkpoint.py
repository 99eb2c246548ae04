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

from pathlib import Path
from typing import Any

import torch

from portraittalker.head.base import HeadModel
from portraittalker.media.files import atomic_path
from portraittalker.motion.checkpoint_file import (  # noqa: F401  (re-exported: this module's public names)
    CHECKPOINT_FORMAT,
    DEFAULT_CHECKPOINT,
    CheckpointError,
    HeadMismatchError,
    check_head,
    check_payload,
    dequantised,
    head_fingerprint,
    head_identity,
    missing_checkpoint,
)
from portraittalker.motion.model import MotionEnsemble, MotionModel, MotionModelConfig


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
        raise missing_checkpoint(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # pickle errors of any kind: corrupt file or non-tensor content
        raise CheckpointError(f"{path} is not a readable motion-model checkpoint: {error}") from error
    return check_payload(payload, path)


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


def model_from_payload(payload: dict[str, Any]) -> MotionModel:
    config = MotionModelConfig.model_validate(payload["model_config"])
    members = int(payload.get("ensemble_members", 1))
    if members > 1:
        model: MotionModel = MotionEnsemble(config, payload["head"], style_names=payload.get("style_names"),
                                            n_members=members)
    else:
        model = MotionModel(config, payload["head"], style_names=payload.get("style_names"))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in dequantised(payload).items()})
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
