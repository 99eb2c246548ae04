"""Avatar appearance: the on-disk asset format and the weight-free text-prompt designer.

Names are imported lazily, so ``portraittalker.avatar.config`` (read by ``portraittalker.config``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AVATAR_FORMAT_VERSION": "asset", "Avatar": "asset", "AvatarFormatError": "asset",
    "AvatarHeadMismatchError": "asset",
    "DesignerConfig": "config",
    "AttributeDesigner": "designer", "stable_seed": "designer",
    "apply_film_grain": "postprocess", "apply_vignette": "postprocess",
    "AvatarAttributes": "vocabulary", "PromptError": "vocabulary", "parse_prompt": "vocabulary",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
