"""Parametric head models behind one interface; pick one by name with :func:`load_head_model`."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portraittalker.head.base import HeadModel
    from portraittalker.head.ict_rig import ICTRig

# torch-backed names load on first use, so ``portraittalker.head.config`` (read by params loading) stays cheap.
_BASE_EXPORTS = ("HeadModel", "HeadParams", "euler_to_matrix", "matrix_to_euler")

HEAD_MODELS = ("ict-facekit", "flame")


def load_head_model(name: str = "ict-facekit", path: str | Path | None = None) -> HeadModel:
    """Build the head model called ``name``; ``path`` overrides where its file is read from."""
    if name == "ict-facekit":
        from portraittalker.head.ict import ICTFaceKit

        return ICTFaceKit(path)
    if name == "flame":
        from portraittalker.head.flame import FLAME

        return FLAME(path)
    raise ValueError(f"unknown head model {name!r}; choose one of {', '.join(HEAD_MODELS)}")


_HEADS: dict[str, HeadModel] = {}
_RIGS: dict[str, ICTRig] = {}


def __getattr__(name: str) -> Any:
    if name not in _BASE_EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.base"), name)


def head_from_config(config) -> HeadModel:
    """The head model described by ``params.head`` (a :class:`portraittalker.config.HeadConfig`), one per process.

    Head models are read-only after loading, so stages share one instance.
    """
    key = config.model_dump_json()
    if key not in _HEADS:
        if config.model == "flame":
            from portraittalker.head.flame import FLAME

            flame = config.flame if config.path is None else config.flame.model_copy(update={"path": config.path})
            _HEADS[key] = FLAME.from_config(flame)
        elif config.model == "ict-facekit":
            from portraittalker.head.ict import ICTFaceKit

            _HEADS[key] = ICTFaceKit(rig_from_config(config))  # the same arrays as the numpy rig
        else:
            _HEADS[key] = load_head_model(config.model, config.path)
    return _HEADS[key]


def rig_from_config(config) -> ICTRig | None:
    """The torch-free numpy rig of ``params.head``, one per process, where the head has one (ICT-FaceKit; FLAME's
    skinning runs in torch only, so None). ``generate`` poses it without importing torch."""
    if config.model != "ict-facekit":
        return None
    key = config.model_dump_json()
    if key not in _RIGS:
        from portraittalker.head.ict_rig import ICTRig

        _RIGS[key] = ICTRig(config.path)
    return _RIGS[key]


__all__ = [
    "HEAD_MODELS", "HeadModel", "HeadParams", "euler_to_matrix", "head_from_config", "load_head_model",
    "matrix_to_euler", "rig_from_config",
]
