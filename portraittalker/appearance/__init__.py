"""Appearance optimisation: an avatar from text (score distillation) or from a photo (fitting).

One optimiser (:class:`AppearanceOptimiser`) renders learnable avatar parameters with ``DiffRenderer``
and follows a guidance chosen by name (``sds`` or ``photo``); the result is the usual avatar folder
(``portraittalker/avatar/asset.py``) with ``source`` ``"sds"`` or ``"photo-fit"``.

Names are imported lazily, so ``portraittalker.appearance.cli`` / ``.config`` stay cheap to import.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "avatar_from_photo": "api", "avatar_from_prompt": "api", "base_avatar": "api",
    "AppearanceConfig": "config",
    "AnalyticDenoiser": "diffusion", "StableDiffusion": "diffusion", "StableDiffusionWeightsError": "diffusion",
    "check_sd_folder": "diffusion",
    "GuidanceError": "errors",
    "GUIDANCES": "guidance", "Guidance": "guidance", "SDSGuidance": "guidance",
    "AppearanceOptimiser": "optimiser", "AppearanceResult": "optimiser",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
