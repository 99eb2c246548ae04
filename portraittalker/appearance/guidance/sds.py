"""Score distillation sampling (DreamFusion) from a text-to-image diffusion backbone.

Per step: encode the B renderings to latents, draw t in the annealed range and noise, predict the
noise of the noisy latents with classifier-free guidance (unconditional = the negative prompt,
conditional = the prompt with a view suffix chosen by the camera's yaw), and pull the latents along
``w(t) (eps_hat - eps)`` through the loss ``0.5 ||z - sg(z - grad)||^2`` (gradient exactly ``grad``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from portraittalker.appearance.config import SDSConfig
from portraittalker.appearance.diffusion import DiffusionBackbone, StableDiffusion
from portraittalker.appearance.guidance.base import Guidance, GuidanceContext
from portraittalker.appearance.render import ViewBatch
from portraittalker.render.diff import RenderOutput

VIEWS = ("front", "side", "back")


def view_of(yaw_deg: float, config: SDSConfig) -> str:
    """front / side / back by |yaw| (0 = facing the camera)."""
    yaw = abs((float(yaw_deg) + 180.0) % 360.0 - 180.0)
    if yaw <= config.front_deg:
        return "front"
    return "back" if yaw >= config.back_deg else "side"


def view_prompt(prompt: str, view: str, config: SDSConfig) -> str:
    text = config.prompt_template.format(prompt=prompt)
    return f"{text}, {view} view" if config.view_prompts else text


def max_step_percent(config: SDSConfig, progress: float) -> float:
    """The annealed upper bound of t / T at training progress in [0, 1]."""
    start, end = config.max_step_percent, config.max_step_percent_end
    if config.anneal == "none":
        return start
    fraction = progress if config.anneal == "linear" else math.sqrt(max(progress, 0.0))
    return start + (end - start) * min(max(fraction, 0.0), 1.0)


def sds_weight(alpha: Tensor, weighting: str) -> Tensor:
    if weighting == "sds":
        return 1.0 - alpha
    if weighting == "fantasia":
        return alpha.sqrt() * (1.0 - alpha)
    return torch.ones_like(alpha)


class SDSGuidance(Guidance):
    name = "sds"

    def __init__(self, prompt: str, config: SDSConfig, backbone: DiffusionBackbone | None = None,
                 seed: int = 0) -> None:
        if not prompt.strip():
            raise ValueError("SDS needs a non-empty prompt")
        self.prompt, self.config = prompt, config
        self.backbone = backbone
        self.generator = torch.Generator().manual_seed(int(seed) + 7919)
        self.last: dict[str, float] = {}

    def setup(self, context: GuidanceContext) -> None:
        super().setup(context)
        if self.backbone is None:
            self.backbone = StableDiffusion(self.config.model, context.device, self.config.half_precision,
                                            self.config.resolution)
        self.backbone.to(context.device)
        prompts = [self.config.negative_prompt] + [view_prompt(self.prompt, v, self.config) for v in VIEWS]
        embeddings = self.backbone.encode_prompts(prompts)
        self.uncond = embeddings[:1]
        self.cond = {view: embeddings[i + 1 : i + 2] for i, view in enumerate(VIEWS)}

    def timestep_range(self, step: int) -> tuple[int, int]:
        total = self.backbone.num_train_timesteps
        progress = step / max(self.context.total_steps - 1, 1)
        low = int(self.config.min_step_percent * total)
        high = max(low + 1, int(max_step_percent(self.config, progress) * total))
        return low, min(high, total - 1)

    def losses(self, render: RenderOutput, views: ViewBatch, vertices: Tensor, albedo: Tensor,
               step: int) -> dict[str, Tensor]:
        backbone = self.backbone
        images = render.image.permute(0, 3, 1, 2)
        latents = backbone.encode_images(images)
        batch = latents.shape[0]
        low, high = self.timestep_range(step)
        t = torch.randint(low, high + 1, (batch,), generator=self.generator).to(latents.device)
        noise = torch.randn(latents.shape, generator=self.generator).to(latents)
        cond = torch.cat([self.cond[view_of(float(y), self.config)] for y in views.yaw_deg])
        uncond = self.uncond.expand(batch, *self.uncond.shape[1:])
        with torch.no_grad():
            noisy = backbone.add_noise(latents.detach(), noise, t)
            eps = backbone.predict_noise(torch.cat([noisy, noisy]), torch.cat([t, t]), torch.cat([uncond, cond]))
            eps_uncond, eps_cond = eps.chunk(2)
            eps_hat = eps_uncond + self.config.guidance_scale * (eps_cond - eps_uncond)
            alpha = backbone.alphas_cumprod.to(latents)[t].reshape(-1, 1, 1, 1)
            grad = sds_weight(alpha, self.config.weighting) * (eps_hat - noise)
            grad = torch.nan_to_num(grad)
            if self.config.grad_clip is not None:
                grad = grad.clamp(-self.config.grad_clip, self.config.grad_clip)
        target = (latents - grad).detach()
        loss = 0.5 * (latents - target).square().sum() / batch
        self.last = {"t_mean": float(t.float().mean()), "grad_norm": float(grad.norm() / batch)}
        return {"sds": self.config.weight * loss}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "generator" in state:
            self.generator.set_state(state["generator"])

    def metadata(self) -> dict[str, Any]:
        meta = {"guidance": self.name, "prompt": self.prompt,
                **self.config.model_dump(mode="json", exclude={"model"})}
        if isinstance(self.backbone, StableDiffusion):
            meta["sd_model"] = str(self.backbone.root)
        return meta
