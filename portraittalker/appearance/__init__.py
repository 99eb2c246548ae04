"""Appearance optimisation: an avatar from text (score distillation) or from a photo (fitting).

One optimiser (:class:`AppearanceOptimiser`) renders learnable avatar parameters with ``DiffRenderer``
and follows a guidance chosen by name (``sds`` or ``photo``); the result is the usual avatar folder
(``portraittalker/avatar/asset.py``) with ``source`` ``"sds"`` or ``"photo-fit"``.
"""

from portraittalker.appearance.api import avatar_from_photo, avatar_from_prompt, base_avatar
from portraittalker.appearance.config import AppearanceConfig
from portraittalker.appearance.diffusion import (
    AnalyticDenoiser,
    StableDiffusion,
    StableDiffusionWeightsError,
    check_sd_folder,
)
from portraittalker.appearance.guidance import GUIDANCES, Guidance, GuidanceError, SDSGuidance
from portraittalker.appearance.optimiser import AppearanceOptimiser, AppearanceResult

__all__ = [
    "GUIDANCES",
    "AnalyticDenoiser",
    "AppearanceConfig",
    "AppearanceOptimiser",
    "AppearanceResult",
    "Guidance",
    "GuidanceError",
    "SDSGuidance",
    "StableDiffusion",
    "StableDiffusionWeightsError",
    "avatar_from_photo",
    "avatar_from_prompt",
    "base_avatar",
    "check_sd_folder",
]
