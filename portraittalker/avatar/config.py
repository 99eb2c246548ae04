"""``designer`` settings, apart from :mod:`portraittalker.avatar.designer` so params load without torch."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DesignerConfig(BaseModel):
    texture_size: int = Field(1024, ge=64, le=4096, description="albedo/specular atlas resolution (square)")
    canvas_width: int = Field(2048, ge=256, le=8192, description="cylindrical paint canvas width (height = half)")
    background_size: int = Field(512, ge=16, le=4096, description="generated background image size (square)")
    identity_scale: float = Field(0.7, ge=0.0, le=3.0, description="std of the seeded identity coefficients")
    attribute_shape_strength: float = Field(1.0, ge=0.0, le=3.0,
                                            description="scale of the age/gender face-shape biases")
    default_scene: str = Field("studio", description="scene when the prompt names none")
    default_lighting: str = Field("default", description="lighting style when the prompt names none")
    specular: float = Field(0.35, ge=0.0, le=2.0, description="Material.specular (scaled per texel by the map)")
    shininess: float = Field(24.0, gt=0.0, description="Material.shininess")
    film_grain_strength: float = Field(0.03, ge=0.0, le=1.0, description="film_grain for 'film grain', 'grainy'")
