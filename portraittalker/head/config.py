"""``head.flame`` settings, apart from :mod:`portraittalker.head.flame` so params load without torch."""

from __future__ import annotations

from pydantic import BaseModel


class FLAMEConfig(BaseModel):
    """``head.flame`` settings; paths left None are searched for (see the module docstring)."""

    path: str | None = None
    n_shape: int = 100
    n_expression: int = 50
    uv_path: str | None = None
    landmark_embedding_path: str | None = None
    masks_path: str | None = None
