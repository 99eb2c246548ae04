"""The appearance optimiser: learnable avatar parameters rendered through DiffRenderer against a guidance.

``AppearanceOptimiser(head, guidance, config, base_avatar, out_dir, source="sds").run()`` optimises
the hierarchical UV albedo (coarse-to-fine), identity coefficients, normal displacements (Laplacian +
normal-consistency regularised) and SH lighting from the guidance's views (random cameras,
expressions and jaw openings for SDS; the photo's fitted view for the photo path). It checkpoints
every ``optim.checkpoint_every`` steps into ``.<out>.appearance/`` beside the avatar folder and resumes
from there; at the end it writes the avatar folder (the existing format) plus ``loss_curve.png`` and
``turntable.png`` inside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from portraittalker.appearance.config import AppearanceConfig
from portraittalker.appearance.guidance.base import Guidance, GuidanceContext
from portraittalker.appearance.parameters import AppearanceParameters, lighting_from_sh
from portraittalker.appearance.regularisers import MeshRegulariser
from portraittalker.appearance.render import AppearanceRenderer, ViewSampler
from portraittalker.appearance.report import plot_losses, render_turntable
from portraittalker.avatar.asset import Avatar
from portraittalker.head.base import HeadModel
from portraittalker.render.scene import Material

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
LOSS_CURVE_NAME, TURNTABLE_NAME = "loss_curve.png", "turntable.png"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def work_dir_for(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.appearance"


@dataclass
class AppearanceResult:
    avatar: Avatar
    avatar_dir: Path
    history: dict[str, list[float]]
    steps: int
    resumed_from: int
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)


class AppearanceOptimiser:
    def __init__(self, head: HeadModel, guidance: Guidance, config: AppearanceConfig, base: Avatar,
                 out_dir: str | Path, source: str, fingerprint_extra: str = "") -> None:
        self.head, self.guidance, self.config, self.base = head, guidance, config, base
        self.out_dir, self.source = Path(out_dir), source
        self.device = resolve_device(config.optim.device)
        self.head.to(self.device)
        self.parameters = AppearanceParameters(head, base.material.albedo, base.identity, base.lighting,
                                               config.texture, config.geometry, config.lighting).to(self.device)
        self.renderer = AppearanceRenderer(head, config.render, self.device)
        self.sampler = ViewSampler(head, config.views, config.render.image_size, config.seed,
                                   avatar_background=tuple(base.background.color))
        self.regulariser = None
        if config.geometry.displacement:
            faces = head.faces[head.render_faces.to(head.faces.device)].to(self.device)
            mask = self.parameters.displace_mask.bool()
            faces = faces[mask[faces].all(1)]
            self.regulariser = MeshRegulariser(faces, head.n_vertices).to(self.device)
        self.history: dict[str, list[float]] = {}
        self.fingerprint = self._fingerprint(fingerprint_extra)
        self.work_dir = work_dir_for(self.out_dir)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _fingerprint(self, extra: str) -> str:
        settings = self.config.model_dump(mode="json")
        for key in ("steps", "progress", "checkpoint_every", "device"):
            settings["optim"].pop(key, None)
        settings["render"].pop("preview_size", None)
        settings["render"].pop("preview_yaws", None)
        text = json.dumps({"config": settings, "head": self.head.name, "source": self.source, "extra": extra},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _save_checkpoint(self, step: int, optimiser: torch.optim.Optimizer) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        state = {"step": step, "fingerprint": self.fingerprint, "parameters": self.parameters.state_dict(),
                 "optimizer": optimiser.state_dict(), "sampler": self.sampler.state_dict(),
                 "guidance": self.guidance.state_dict(), "history": self.history}
        path = self.work_dir / CHECKPOINT_NAME
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def _load_checkpoint(self, optimiser: torch.optim.Optimizer) -> int:
        path = self.work_dir / CHECKPOINT_NAME
        if not path.is_file():
            return 0
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as error:
            log.warning("ignoring unreadable checkpoint %s (%s): starting afresh", path, error)
            return 0
        if state.get("fingerprint") != self.fingerprint:
            log.warning("checkpoint %s was made with other settings: starting afresh", path)
            return 0
        self.parameters.load_state_dict(state["parameters"])
        optimiser.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.guidance.load_state_dict(state["guidance"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        log.info("resuming %s from step %d", self.out_dir, state["step"])
        return int(state["step"])

    def active_levels(self, step: int, total: int) -> int:
        levels = self.parameters.texture.n_levels
        span = self.config.texture.coarse_to_fine * total
        if span <= 0 or levels == 1:
            return levels
        return min(levels, 1 + int(step / span * (levels - 1)))

    # -- the loop ------------------------------------------------------------------------------
    def step_losses(self, step: int, total: int) -> dict[str, torch.Tensor]:
        params = self.parameters
        views = self.guidance.views(step)
        vertices = params.vertices(views.params)
        albedo = params.albedo(self.active_levels(step, total))
        self.renderer.sh = params.sh if params.use_sh else None
        keys = views.keys if params.geometry_frozen else None
        with self.renderer.cached_views(keys):
            render = self.renderer(vertices, albedo, views.camera, lighting=self.base.lighting,
                                   background=views.background)
        losses = self.guidance.losses(render, views, vertices, albedo, step)
        geometry = self.config.geometry
        if params.identity.requires_grad and geometry.identity_prior > 0:
            losses["identity_prior"] = geometry.identity_prior * params.identity.square().sum()
        if self.regulariser is not None and params.displacement.requires_grad:
            rest = params.rest_vertices().detach()
            offsets = params.offsets(rest)
            if geometry.laplacian_weight > 0:
                losses["laplacian"] = geometry.laplacian_weight * self.regulariser.laplacian(offsets)
            if geometry.normal_consistency_weight > 0:
                losses["normal_consistency"] = (geometry.normal_consistency_weight
                                                * self.regulariser.normal_consistency(rest + offsets))
        if self.config.optim.texture_tv_weight > 0:
            tv = (albedo[:, 1:] - albedo[:, :-1]).abs().mean() + (albedo[:, :, 1:] - albedo[:, :, :-1]).abs().mean()
            losses["texture_tv"] = self.config.optim.texture_tv_weight * tv
        return losses

    def run(self) -> AppearanceResult:
        start_time = time.perf_counter()
        total = self.config.optim.steps
        self.guidance.setup(GuidanceContext(head=self.head, renderer=self.renderer, sampler=self.sampler,
                                            device=self.device, total_steps=total))
        optimiser = torch.optim.Adam(self.parameters.param_groups(self.config.optim), betas=(0.9, 0.99), eps=1e-15)
        start = self._load_checkpoint(optimiser)
        bar = tqdm(range(start, total), initial=start, total=total, disable=not self.config.optim.progress,
                   desc=f"avatar ({self.guidance.name})", dynamic_ncols=True)
        for step in bar:
            optimiser.zero_grad(set_to_none=True)
            losses = self.step_losses(step, total)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise FloatingPointError(f"appearance optimisation diverged at step {step}: {loss.item()}")
            loss.backward()
            optimiser.step()
            self.history.setdefault("total", []).append(float(loss.detach()))
            for name, value in losses.items():
                self.history.setdefault(name, []).append(float(value.detach()))
            bar.set_postfix(loss=f"{float(loss.detach()):.4g}")
            if (step + 1) % self.config.optim.checkpoint_every == 0 or step + 1 == total:
                self._save_checkpoint(step + 1, optimiser)
        bar.close()
        avatar = self.export()
        folder = avatar.save(self.out_dir)
        files = self.write_reports(folder)
        return AppearanceResult(avatar=avatar, avatar_dir=folder, history=self.history, steps=total,
                                resumed_from=start, seconds=time.perf_counter() - start_time, files=files)

    # -- results -------------------------------------------------------------------------------
    @torch.no_grad()
    def export(self) -> Avatar:
        params = self.parameters
        albedo = (params.albedo().clamp(0, 1)[0] * 255).round().byte().cpu().numpy()
        base = self.base
        specular_map = base.material.specular_map
        if specular_map is not None and specular_map.shape != albedo.shape[:2]:
            resized = Image.fromarray((specular_map * 255).astype(np.uint8)).resize(albedo.shape[1::-1],
                                                                                   Image.BILINEAR)
            specular_map = np.asarray(resized).astype(np.float32) / 255.0
        lighting = lighting_from_sh(params.sh, base.lighting) if params.use_sh else base.lighting
        offsets = None
        if self.config.geometry.displacement:
            offsets = params.offsets().cpu().numpy().astype(np.float32)
        final = {name: values[-1] for name, values in self.history.items() if values}
        attributes = dict(base.attributes)
        attributes["appearance"] = {**self.guidance.metadata(), "steps": self.config.optim.steps,
                                    "seed": self.config.seed, "final_losses": final,
                                    "fingerprint": self.fingerprint}
        return Avatar(
            identity=params.identity.detach()[0].cpu().numpy(),
            material=Material(albedo=albedo, specular=base.material.specular, shininess=base.material.shininess,
                              specular_map=specular_map),
            lighting=lighting, background=base.background, background_spec=base.background_spec,
            head_model=self.head.name, prompt=base.prompt, seed=base.seed, source=self.source,
            film_grain=base.film_grain, attributes=attributes, vertex_offsets=offsets,
        )

    def write_reports(self, folder: Path) -> dict[str, Path]:
        subject = self.base.prompt or Path(str(self.guidance.metadata().get("photo", ""))).name
        files = {"loss_curve": plot_losses(self.history, folder / LOSS_CURVE_NAME,
                                           title=f"{self.guidance.name}: {subject}")}
        params = self.parameters
        with torch.no_grad():
            sheet = render_turntable(
                self.head, params.vertices, params.albedo(), self.base.lighting,
                params.sh.detach() if params.use_sh else None, self.config.render, self.config.render.preview_size,
                background=tuple(self.base.background.color), yaws=self.config.render.preview_yaws,
                device=self.device, caption=f"{self.source}: {subject}",
            )
        path = folder / TURNTABLE_NAME
        Image.fromarray(sheet).save(path)
        files["turntable"] = path
        return files


def psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """PSNR in dB of images in [0, 1] (optionally over a (…, H, W) mask)."""
    error = (a.float() - b.float()).square()
    if mask is not None:
        weight = mask.float()[..., None].expand_as(error)
        mse = float((error * weight).sum() / weight.sum().clamp_min(1))
    else:
        mse = float(error.mean())
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def metadata_json(result: AppearanceResult) -> dict[str, Any]:
    return {"avatar": str(result.avatar_dir), "steps": result.steps, "resumed_from": result.resumed_from,
            "seconds": round(result.seconds, 2), "final": {k: v[-1] for k, v in result.history.items() if v}}
