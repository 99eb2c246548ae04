"""Entry points: an avatar from a text prompt (SDS) or from a photo, written in the avatar format."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from portraittalker.appearance.config import AppearanceConfig
from portraittalker.appearance.diffusion import DiffusionBackbone
from portraittalker.appearance.guidance.photo import PhotoFit, PhotoGuidance, fit_photo
from portraittalker.appearance.guidance.sds import SDSGuidance
from portraittalker.appearance.optimiser import AppearanceOptimiser, AppearanceResult
from portraittalker.avatar.asset import Avatar
from portraittalker.avatar.designer import AttributeDesigner, DesignerConfig
from portraittalker.face.fitting import FittingConfig
from portraittalker.head.base import HeadModel
from portraittalker.render.mesh import default_albedo
from portraittalker.render.scene import Background, Lighting, Material


def base_avatar(head: HeadModel, prompt: str, config: AppearanceConfig) -> Avatar:
    """The starting point: the AttributeDesigner's avatar for the prompt, or the plain stand-in."""
    size = config.texture.size
    if config.texture.init == "designer" and prompt.strip():
        designer = AttributeDesigner(head, DesignerConfig(texture_size=max(64, size),
                                                          canvas_width=min(2048, max(256, 2 * size))))
        return designer.design(prompt, seed=config.seed)
    albedo = default_albedo(head, size) if config.texture.init != "grey" else np.full((size, size, 3), 128, np.uint8)
    return Avatar(identity=np.zeros(head.n_identity, np.float32), material=Material(albedo=albedo),
                  lighting=Lighting(), background=Background(), head_model=head.name, prompt=prompt,
                  seed=config.seed, source="attribute-designer")


def avatar_from_prompt(head: HeadModel, prompt: str, out_dir: str | Path, config: AppearanceConfig | None = None,
                       sd_model: str | Path | None = None, backbone: DiffusionBackbone | None = None
                       ) -> AppearanceResult:
    """Text -> avatar by score distillation from a local Stable Diffusion folder (or a given backbone)."""
    config = (config or AppearanceConfig()).model_copy(deep=True)
    config.guidance = "sds"
    if sd_model is not None:
        config.sds.model = str(sd_model)
    guidance = SDSGuidance(prompt, config.sds, backbone=backbone, seed=config.seed)
    if backbone is None:  # fail before any work when the weights are missing
        from portraittalker.appearance.diffusion import check_sd_folder

        check_sd_folder(config.sds.model)
    base = base_avatar(head, prompt, config)
    model_id = str(config.sds.model) if backbone is None else type(backbone).__name__
    optimiser = AppearanceOptimiser(head, guidance, config, base, out_dir, source="sds",
                                    fingerprint_extra=f"prompt={prompt}|model={model_id}")
    return optimiser.run()


def avatar_from_photo(head: HeadModel, photo: str | Path | np.ndarray, out_dir: str | Path,
                      config: AppearanceConfig | None = None, fitting: FittingConfig | None = None,
                      photo_fit: PhotoFit | None = None) -> AppearanceResult:
    """Photo -> avatar: landmark fit (identity, pose, expression), then photometric texture optimisation."""
    config = (config or AppearanceConfig()).model_copy(deep=True)
    config.guidance = "photo"
    if config.photo.steps is not None:
        config.optim.steps = config.photo.steps
    if not config.photo.refine_geometry:
        config.geometry.learn_identity = False
        config.geometry.displacement = False
    if photo_fit is None:
        photo_fit = fit_photo(head, photo, config.photo.fit_size, fitting, config.photo.min_face_px)
    if config.texture.init == "designer":
        config.texture.init = "default"
    # Levels finer than twice the render resolution only get isolated texels (speckle): stop before them.
    resolution, levels = config.texture.base_resolution, 1
    while levels < config.texture.levels and resolution * 2 <= 2 * config.render.image_size:
        resolution, levels = resolution * 2, levels + 1
    config.texture.levels = levels
    base = base_avatar(head, "", config)
    base.identity = photo_fit.fit.params.identity[0].cpu().numpy().astype(np.float32)
    base.attributes = {"photo_fit_error_px": float(photo_fit.fit.frame_error_px[0])}
    if isinstance(photo, str | Path):
        digest = file_sha256(photo)
    else:
        digest = hashlib.sha256(np.ascontiguousarray(photo_fit.image).tobytes()).hexdigest()
    optimiser = AppearanceOptimiser(head, PhotoGuidance(photo_fit, config.photo), config, base, out_dir,
                                    source="photo-fit", fingerprint_extra=f"photo={digest}")
    return optimiser.run()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
