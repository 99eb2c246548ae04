"""Typed configuration of the appearance optimiser (``params.yaml`` section ``appearance``).

In the spirit of threestudio every module has its own small pydantic config, and the guidance is
chosen by name (``guidance: sds | photo``) from :data:`portraittalker.appearance.guidance.GUIDANCES`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from portraittalker.render.config import DiffRendererConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextureConfig(_Section):
    """Hierarchical UV albedo: coarse-to-fine residual levels summed over an initial texture (logit space)."""

    size: int = Field(1024, ge=16, le=4096, description="exported albedo atlas resolution (square)")
    base_resolution: int = Field(16, ge=2, description="resolution of the coarsest learnable level")
    levels: int = Field(7, ge=1, le=12, description="levels, each twice the previous resolution (capped at size)")
    coarse_to_fine: float = Field(0.5, ge=0.0, le=1.0,
                                  description="fraction of the steps over which the finer levels are switched on")
    init: Literal["designer", "default", "grey"] = Field(
        "designer", description="starting texture: the AttributeDesigner's for the prompt, the plain stand-in "
        "albedo, or flat grey")


class GeometryConfig(_Section):
    learn_identity: bool = True
    identity_prior: float = Field(1e-3, ge=0.0, description="L2 on identity coefficients (~N(0, 1))")
    displacement: bool = Field(True, description="learn per-vertex offsets along the rest-pose normal")
    max_displacement_m: float = Field(0.004, gt=0.0, description="offsets are max * tanh(raw)")
    displace_components: list[str] = Field(default_factory=lambda: ["face", "head_neck"])
    laplacian_weight: float = Field(1e4, ge=0.0, description="uniform Laplacian of the offset field (m^2 scale)")
    normal_consistency_weight: float = Field(0.1, ge=0.0, description="1 - cos between adjacent face normals")


class LightingConfig(_Section):
    spherical_harmonics: bool = Field(True, description="learn 2nd-order SH irradiance (9 x RGB) for diffuse "
                                      "shading; exported as ambient + one directional light")


class ViewConfig(_Section):
    """Random cameras, expressions and jaw openings of each optimisation step."""

    batch_size: int = Field(2, ge=1)
    yaw_deg: tuple[float, float] = (-60.0, 60.0)
    pitch_deg: tuple[float, float] = (-20.0, 20.0)
    distance_m: tuple[float, float] = (0.95, 1.1)
    fov_deg: float = Field(20.0, gt=1.0, lt=120.0)
    target: tuple[float, float, float] = (0.0, 0.0, 0.02)
    expression_probability: float = Field(0.5, ge=0.0, le=1.0)
    expression_max: float = Field(0.7, ge=0.0, le=1.0, description="max weight of a random blendshape")
    expressions_per_view: int = Field(3, ge=0)
    jaw_probability: float = Field(0.5, ge=0.0, le=1.0)
    jaw_max_rad: float = Field(0.3, ge=0.0, le=0.5)
    background: Literal["random", "avatar", "white", "black"] = "random"
    pool: int = Field(0, ge=0, description="> 0: draw views from a fixed pool of this many (rasterisation is "
                      "cached per view while the geometry is frozen - much faster on CPU); 0: fresh every step")


class RenderSection(_Section):
    image_size: int = Field(128, ge=8, le=1024, description="render resolution of the optimisation")
    preview_size: int = Field(256, ge=16, le=1024, description="turntable contact-sheet view size")
    preview_yaws: list[float] = Field(default_factory=lambda: [-60.0, -30.0, 0.0, 30.0, 60.0, 90.0],
                                      description="turntable yaws (degrees); a second row opens the mouth")
    components: list[str] | None = Field(None, description="head components drawn (None: all drawn ones)")
    diff: DiffRendererConfig = DiffRendererConfig()


class OptimConfig(_Section):
    steps: int = Field(2000, ge=1)
    texture_lr: float = Field(0.02, gt=0.0)
    identity_lr: float = Field(0.01, gt=0.0)
    displacement_lr: float = Field(0.005, gt=0.0)
    lighting_lr: float = Field(0.01, gt=0.0)
    texture_tv_weight: float = Field(0.0, ge=0.0, description="total variation of the albedo")
    checkpoint_every: int = Field(100, ge=1)
    progress: bool = True
    device: str = Field("auto", description="auto: cuda when available, else cpu")


class SDSConfig(_Section):
    """Score distillation from a local Stable Diffusion (1.5 / 2.1 diffusers folder)."""

    model: str | None = Field(None, description="local diffusers folder of SD 1.5 / 2.1 (model_index.json, unet/, "
                              "vae/, text_encoder/, tokenizer/, scheduler/); never downloaded")
    guidance_scale: float = Field(100.0, ge=1.0, description="classifier-free guidance scale")
    min_step_percent: float = Field(0.02, ge=0.0, le=1.0)
    max_step_percent: float = Field(0.98, ge=0.0, le=1.0, description="max timestep at the start")
    max_step_percent_end: float = Field(0.5, ge=0.0, le=1.0, description="max timestep at the end (annealed)")
    anneal: Literal["linear", "sqrt", "none"] = "linear"
    weighting: Literal["sds", "uniform", "fantasia"] = Field(
        "sds", description="w(t): sds = 1 - alpha_bar, uniform = 1, fantasia = sqrt(alpha_bar) (1 - alpha_bar)")
    view_prompts: bool = Field(True, description="append ', front view' / ', side view' / ', back view' by yaw")
    front_deg: float = Field(45.0, ge=0.0, le=180.0, description="|yaw| up to this is the front view")
    back_deg: float = Field(135.0, ge=0.0, le=180.0, description="|yaw| from this is the back view")
    prompt_template: str = Field("{prompt}", description="how the user's prompt is wrapped ('{prompt}' required)")
    negative_prompt: str = "blurry, low quality, deformed, disfigured, cartoon, text, watermark"
    half_precision: bool = Field(True, description="fp16 UNet/VAE/text encoder on CUDA (always fp32 on CPU)")
    grad_clip: float | None = Field(None, gt=0.0, description="clamp |w(t) (eps_hat - eps)| per element")
    resolution: int | None = Field(None, ge=8, description="image size fed to the VAE (None: the UNet's native)")
    weight: float = Field(1.0, gt=0.0)

    @model_validator(mode="after")
    def _check(self) -> SDSConfig:
        if "{prompt}" not in self.prompt_template:
            raise ValueError("sds.prompt_template must contain '{prompt}'")
        if not self.min_step_percent <= min(self.max_step_percent, self.max_step_percent_end):
            raise ValueError("sds.min_step_percent must not exceed max_step_percent / max_step_percent_end")
        return self


class PhotoConfig(_Section):
    """Fit to one photo: landmarks -> identity/pose/expression, then photometric + landmark losses -> texture."""

    photometric_weight: float = Field(1.0, ge=0.0)
    landmark_weight: float = Field(1e-3, ge=0.0, description="per squared pixel (at the photo's resolution)")
    mirror_weight: float = Field(0.5, ge=0.0, description="the mirrored photo as a second view, only on texels "
                                 "the real view does not see")
    skin_prior_weight: float = Field(0.3, ge=0.0, description="unseen skin texels -> the median seen skin tone")
    face_margin: float = Field(-0.02, ge=-0.2, le=0.5, description="face mask (landmark hull) grown (> 0) or "
                               "shrunk (< 0) by this fraction of the face height; shrinking keeps background and "
                               "hair at the face outline out of the texture")
    min_face_px: int = Field(48, ge=8, description="a detected face smaller than this is rejected")
    fit_size: int = Field(512, ge=64, le=2048, description="the face crop's size for tracking and fitting")
    steps: int | None = Field(300, ge=1, description="steps of the photo path (it converges far sooner than SDS); "
                              "None: optim.steps")
    refine_geometry: bool = Field(False, description="also learn identity (landmark + photometric losses) and "
                                  "displacements after the landmark fit; off: texture and lighting only (fast)")


class AppearanceConfig(_Section):
    guidance: Literal["sds", "photo"] = "sds"
    seed: int = 0
    texture: TextureConfig = TextureConfig()
    geometry: GeometryConfig = GeometryConfig()
    lighting: LightingConfig = LightingConfig()
    views: ViewConfig = ViewConfig()
    render: RenderSection = RenderSection()
    optim: OptimConfig = OptimConfig()
    sds: SDSConfig = SDSConfig()
    photo: PhotoConfig = PhotoConfig()
