"""Avatar appearance: the on-disk asset format and the weight-free text-prompt designer."""

from portraittalker.avatar.asset import (
    AVATAR_FORMAT_VERSION,
    Avatar,
    AvatarFormatError,
    AvatarHeadMismatchError,
)
from portraittalker.avatar.designer import AttributeDesigner, DesignerConfig, stable_seed
from portraittalker.avatar.postprocess import apply_film_grain, apply_vignette
from portraittalker.avatar.vocabulary import AvatarAttributes, PromptError, parse_prompt

__all__ = [
    "AVATAR_FORMAT_VERSION",
    "AttributeDesigner",
    "Avatar",
    "AvatarAttributes",
    "AvatarFormatError",
    "AvatarHeadMismatchError",
    "DesignerConfig",
    "PromptError",
    "apply_film_grain",
    "apply_vignette",
    "parse_prompt",
    "stable_seed",
]
