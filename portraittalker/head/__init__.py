"""Parametric head models behind one interface; pick one by name with :func:`load_head_model`."""

from __future__ import annotations

from pathlib import Path

from portraittalker.head.base import HeadModel, HeadParams, euler_to_matrix, matrix_to_euler

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


__all__ = ["HEAD_MODELS", "HeadModel", "HeadParams", "euler_to_matrix", "load_head_model", "matrix_to_euler"]
