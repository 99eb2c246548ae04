"""Guidances chosen by name (``appearance.guidance``): ``sds`` (text) and ``photo`` (one photo)."""

from portraittalker.appearance.guidance.base import Guidance, GuidanceContext, GuidanceError
from portraittalker.appearance.guidance.sds import SDSGuidance

GUIDANCES: dict[str, str] = {
    "sds": "portraittalker.appearance.guidance.sds:SDSGuidance",
    "photo": "portraittalker.appearance.guidance.photo:PhotoGuidance",
}

__all__ = ["GUIDANCES", "Guidance", "GuidanceContext", "GuidanceError", "SDSGuidance"]
