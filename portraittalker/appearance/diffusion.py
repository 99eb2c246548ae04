"""Diffusion backbones for score distillation: Stable Diffusion from a local folder, and an analytic one.

A backbone encodes images to latents, embeds prompts and predicts the noise of a noisy latent; the
SDS arithmetic (:mod:`portraittalker.appearance.guidance.sds`) only uses this interface, so it is
tested for real with :class:`AnalyticDenoiser`, whose noise prediction points at a known image.

Weights are never downloaded: :func:`check_sd_folder` names every missing part of a local
diffusers folder and where users get a checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from portraittalker.appearance.errors import GuidanceError

log = logging.getLogger(__name__)

SD_PARTS: dict[str, tuple[str, ...]] = {
    "unet": ("config.json",),
    "vae": ("config.json",),
    "text_encoder": ("config.json",),
    "tokenizer": ("vocab.json|tokenizer.json",),
    "scheduler": ("scheduler_config.json",),
}
WEIGHT_SUFFIXES = (".safetensors", ".bin")
SD_WHERE = (
    "Stable Diffusion weights are not downloaded by PortraitTalker: get a SD 1.5 or 2.1 checkpoint in the diffusers "
    "folder layout, e.g. `huggingface-cli download stable-diffusion-v1-5/stable-diffusion-v1-5 --local-dir DIR` "
    "(https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5, CreativeML OpenRAIL-M licence) or "
    "stabilityai/stable-diffusion-2-1-base, and pass that folder (--sd-model DIR / appearance.sds.model)"
)


class StableDiffusionWeightsError(GuidanceError, FileNotFoundError):
    """The local Stable Diffusion folder is missing or incomplete."""


def check_sd_folder(folder: str | Path | None) -> Path:
    """Raise :class:`StableDiffusionWeightsError` naming every missing part; return the folder."""
    if folder is None:
        raise StableDiffusionWeightsError(f"no Stable Diffusion folder given. {SD_WHERE}")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise StableDiffusionWeightsError(f"Stable Diffusion folder not found: {root}. {SD_WHERE}")
    missing = []
    if not (root / "model_index.json").is_file():
        missing.append("model_index.json")
    for part, files in SD_PARTS.items():
        sub = root / part
        if not sub.is_dir():
            missing.append(f"{part}/")
            continue
        for options in files:
            if not any((sub / name).is_file() for name in options.split("|")):
                missing.append(f"{part}/{options.replace('|', ' or ')}")
        if part in ("unet", "vae", "text_encoder") and not any(
                p.suffix in WEIGHT_SUFFIXES for p in sub.iterdir() if p.is_file()):
            missing.append(f"{part}/ weights (*.safetensors or *.bin)")
    if missing:
        raise StableDiffusionWeightsError(
            f"Stable Diffusion folder {root} is incomplete, missing: {', '.join(missing)}. {SD_WHERE}")
    return root


class DiffusionBackbone(nn.Module):
    """Interface: ``alphas_cumprod`` (T,), latents, prompt embeddings, noise prediction (eps)."""

    alphas_cumprod: Tensor

    @property
    def num_train_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    def encode_images(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) in [0, 1] -> latents (differentiable)."""
        raise NotImplementedError

    def encode_prompts(self, prompts: list[str]) -> Tensor:
        """(N, L, D) embeddings (no gradient)."""
        raise NotImplementedError

    def predict_noise(self, noisy: Tensor, timesteps: Tensor, embeddings: Tensor) -> Tensor:
        raise NotImplementedError

    def add_noise(self, latents: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        alpha = self.alphas_cumprod.to(latents)[timesteps].reshape(-1, *([1] * (latents.ndim - 1)))
        return alpha.sqrt() * latents + (1 - alpha).sqrt() * noise


def sd_alphas_cumprod(steps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> Tensor:
    """Stable Diffusion's "scaled_linear" schedule (as diffusers' DDPMScheduler)."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, 0).float()


class AnalyticDenoiser(DiffusionBackbone):
    """The ideal denoiser of a one-image data set: x0 is ``target`` for every noisy input.

    Latents are the images themselves in [-1, 1]; ``eps_hat = (x_t - sqrt(a) y) / sqrt(1 - a)``. The
    prompt is ignored (conditional = unconditional), so SDS must move a rendering towards ``target``.
    """

    def __init__(self, target: Tensor) -> None:
        super().__init__()
        if target.ndim != 4 or target.shape[1] != 3:
            raise ValueError(f"target must be (B|1, 3, H, W) in [0, 1], got {tuple(target.shape)}")
        self.register_buffer("target", target.float() * 2 - 1)
        self.register_buffer("alphas_cumprod", sd_alphas_cumprod())

    def encode_images(self, images: Tensor) -> Tensor:
        if images.shape[-2:] != self.target.shape[-2:]:
            images = nn.functional.interpolate(images, size=self.target.shape[-2:], mode="bilinear",
                                               align_corners=False)
        return images * 2 - 1

    def encode_prompts(self, prompts: list[str]) -> Tensor:
        return torch.zeros(len(prompts), 1, 1, device=self.target.device)

    def predict_noise(self, noisy: Tensor, timesteps: Tensor, embeddings: Tensor) -> Tensor:
        alpha = self.alphas_cumprod.to(noisy)[timesteps].reshape(-1, 1, 1, 1)
        return (noisy - alpha.sqrt() * self.target.to(noisy)) / (1 - alpha).sqrt()


class StableDiffusion(DiffusionBackbone):
    """UNet + VAE + CLIP text encoder + tokenizer + scheduler from a local SD 1.5 / 2.1 diffusers folder."""

    def __init__(self, folder: str | Path, device: torch.device | str = "cpu", half_precision: bool = True,
                 resolution: int | None = None) -> None:
        super().__init__()
        from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
        from transformers import CLIPTextModel, CLIPTokenizer

        root = check_sd_folder(folder)
        device = torch.device(device)
        self.dtype = torch.float16 if half_precision and device.type == "cuda" else torch.float32
        kwargs = {"local_files_only": True, "torch_dtype": self.dtype}
        try:
            self.unet = UNet2DConditionModel.from_pretrained(root, subfolder="unet", **kwargs)
            self.vae = AutoencoderKL.from_pretrained(root, subfolder="vae", **kwargs)
            self.text_encoder = CLIPTextModel.from_pretrained(root / "text_encoder", local_files_only=True,
                                                              dtype=self.dtype)
            self.tokenizer = CLIPTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
            scheduler = DDPMScheduler.from_pretrained(root, subfolder="scheduler", local_files_only=True)
        except (OSError, ValueError, KeyError) as error:
            raise StableDiffusionWeightsError(f"cannot load Stable Diffusion from {root}: {error}. {SD_WHERE}") \
                from error
        for module in (self.unet, self.vae, self.text_encoder):
            module.requires_grad_(False)
            module.eval()
        self.prediction_type = str(scheduler.config.get("prediction_type", "epsilon"))
        self.register_buffer("alphas_cumprod", scheduler.alphas_cumprod.float().clone())
        self.latent_scale = float(self.vae.config.get("scaling_factor", 0.18215))
        vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.resolution = int(resolution or int(self.unet.config.sample_size) * vae_factor)
        self.root = root
        self.to(device)

    def encode_images(self, images: Tensor) -> Tensor:
        if images.shape[-1] != self.resolution or images.shape[-2] != self.resolution:
            images = nn.functional.interpolate(images, size=(self.resolution, self.resolution), mode="bilinear",
                                               align_corners=False)
        posterior = self.vae.encode((images * 2 - 1).to(self.dtype)).latent_dist
        return (posterior.sample() * self.latent_scale).float()

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> Tensor:
        tokens = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
        ids = tokens.input_ids.to(self.alphas_cumprod.device)
        return self.text_encoder(ids)[0].float()

    @torch.no_grad()
    def predict_noise(self, noisy: Tensor, timesteps: Tensor, embeddings: Tensor) -> Tensor:
        out = self.unet(noisy.to(self.dtype), timesteps, encoder_hidden_states=embeddings.to(self.dtype)).sample
        out = out.float()
        if self.prediction_type == "v_prediction":  # SD 2.x 768: v = sqrt(a) eps - sqrt(1-a) x0
            alpha = self.alphas_cumprod.to(noisy)[timesteps].reshape(-1, 1, 1, 1)
            out = alpha.sqrt() * out + (1 - alpha).sqrt() * noisy
        return out
