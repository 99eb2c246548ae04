"""Score distillation: the SDS arithmetic against an analytic denoiser, tiny random SD weights, missing weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from portraittalker.appearance import (
    AnalyticDenoiser,
    AppearanceConfig,
    StableDiffusion,
    StableDiffusionWeightsError,
    avatar_from_prompt,
    check_sd_folder,
)
from portraittalker.appearance.guidance.sds import max_step_percent, sds_weight, view_of, view_prompt
from portraittalker.appearance.optimiser import psnr
from portraittalker.appearance.render import AppearanceRenderer, torch_camera
from portraittalker.avatar.asset import Avatar
from portraittalker.render.scene import Lighting

SIZE = 48


def fixed_view_config(steps: int, **render) -> AppearanceConfig:
    """One frontal view, no expressions, texture only: every step reuses the cached rasterisation."""
    return AppearanceConfig.model_validate({
        "texture": {"size": 64, "base_resolution": 8, "levels": 4, "init": "grey", "coarse_to_fine": 0.3},
        "geometry": {"learn_identity": False, "displacement": False},
        "lighting": {"spherical_harmonics": False},
        "views": {"batch_size": 1, "yaw_deg": [0, 0], "pitch_deg": [0, 0], "distance_m": [1, 1],
                  "expression_probability": 0, "jaw_probability": 0, "background": "black", "pool": 1},
        "render": {"image_size": SIZE, "preview_size": 32, "preview_yaws": [0, 60], "components": ["face"],
                   **render},
        "optim": {"steps": steps, "texture_lr": 0.05, "progress": False, "checkpoint_every": 10},
    })


def render_front(head, renderer, albedo: torch.Tensor, lighting: Lighting = Lighting()) -> tuple[torch.Tensor, ...]:
    camera = torch_camera(torch.zeros(1), torch.zeros(1), torch.ones(1), 20.0, (0.0, 0.0, 0.02), SIZE)
    with torch.no_grad():
        out = renderer(head(head.neutral_params(1)), albedo, camera, lighting=lighting,
                       background=torch.zeros(1, SIZE, SIZE, 3))
    return out.image[0], out.alpha[0] > 0


def pattern_texture(size: int = 64) -> torch.Tensor:
    u = np.linspace(0.0, 1.0, size)
    uv = np.stack(np.meshgrid(u, u), -1)
    texture = np.concatenate([uv, 0.5 + 0.4 * np.sin(12 * uv[..., :1])], -1)
    return torch.tensor(texture, dtype=torch.float32)[None]


@pytest.mark.slow
def test_sds_with_an_analytic_denoiser_moves_the_rendering_to_its_target(ict_head, tmp_path: Path) -> None:
    """The denoiser's noise prediction points at a known image: SDS must pull the rendering there."""
    config = fixed_view_config(steps=30)
    renderer = AppearanceRenderer(ict_head, config.render)
    target, mask = render_front(ict_head, renderer, pattern_texture())
    start, _ = render_front(ict_head, renderer, torch.full((1, 64, 64, 3), 128 / 255))
    backbone = AnalyticDenoiser(target.permute(2, 0, 1)[None])
    result = avatar_from_prompt(ict_head, "a face", tmp_path / "avatar", config, backbone=backbone)
    albedo = torch.tensor(result.avatar.material.albedo).float()[None] / 255
    final, _ = render_front(ict_head, renderer, albedo, result.avatar.lighting)
    before, after = psnr(start, target, mask), psnr(final, target, mask)
    print(f"analytic SDS: PSNR {before:.2f} -> {after:.2f} dB")
    assert after - before >= 6.0, (before, after)
    assert result.history["sds"][-1] < result.history["sds"][0]
    loaded = Avatar.load(tmp_path / "avatar", expected_head=ict_head)
    assert loaded.source == "sds" and loaded.prompt == "a face"
    assert loaded.attributes["appearance"]["guidance"] == "sds"
    assert (tmp_path / "avatar" / "loss_curve.png").is_file() and (tmp_path / "avatar" / "turntable.png").is_file()


def test_sds_schedule_weighting_and_view_prompts() -> None:
    config = AppearanceConfig().sds
    assert max_step_percent(config, 0.0) == pytest.approx(0.98)
    assert max_step_percent(config, 1.0) == pytest.approx(0.5)
    assert view_of(0.0, config) == "front" and view_of(-60.0, config) == "side" and view_of(170.0, config) == "back"
    assert view_prompt("an old man", "side", config) == "an old man, side view"
    alpha = torch.tensor([0.1, 0.9])
    assert torch.allclose(sds_weight(alpha, "sds"), 1 - alpha)
    assert torch.allclose(sds_weight(alpha, "uniform"), torch.ones(2))
    with pytest.raises(ValueError, match="prompt_template"):
        AppearanceConfig.model_validate({"sds": {"prompt_template": "no placeholder"}})


# --- tiny random Stable Diffusion in the diffusers folder layout -------------------------------------------
def save_tiny_stable_diffusion(root: Path) -> Path:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8,
    ).save_pretrained(root / "unet")
    AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=8,
        sample_size=32,
    ).save_pretrained(root / "vae")
    vocab_dir = root / "vocab"
    vocab_dir.mkdir(parents=True)
    words = ["<|startoftext|>", "<|endoftext|>", "<unk>", "a</w>", "face</w>", "view</w>", "front</w>",
             "side</w>", "back</w>", ",</w>", "blurry</w>"] + [f"{c}</w>" for c in "abcdefghijklmnopqrstuvwxyz"]
    words += list("abcdefghijklmnopqrstuvwxyz,")
    (vocab_dir / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(dict.fromkeys(words))}))
    (vocab_dir / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(vocab_dir / "vocab.json"), str(vocab_dir / "merges.txt"), model_max_length=16)
    tokenizer.save_pretrained(root / "tokenizer")
    CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37,
                                 num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=16,
                                 projection_dim=32)).save_pretrained(root / "text_encoder")
    DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012).save_pretrained(
        root / "scheduler")
    (root / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDPMScheduler"]}))
    return root


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> Path:
    return save_tiny_stable_diffusion(tmp_path_factory.mktemp("tiny-sd"))


@pytest.mark.slow
def test_tiny_random_stable_diffusion_runs_sds_steps_through_the_renderer(ict_head, tiny_sd: Path,
                                                                          tmp_path: Path) -> None:
    assert check_sd_folder(tiny_sd) == tiny_sd
    backbone = StableDiffusion(tiny_sd, "cpu")
    assert backbone.resolution == 32 and backbone.prediction_type == "epsilon"
    config = fixed_view_config(steps=3)
    config.sds.guidance_scale = 7.5
    out = tmp_path / "avatar"
    result = avatar_from_prompt(ict_head, "a face", out, config, sd_model=tiny_sd)
    assert len(result.history["sds"]) == 3 and all(np.isfinite(result.history["sds"]))
    avatar = Avatar.load(out, expected_head=ict_head)
    assert avatar.source == "sds" and avatar.attributes["appearance"]["sd_model"] == str(tiny_sd)
    assert avatar.material.albedo.shape == (64, 64, 3)
    # The texture moved: SDS gradients reached the albedo through the VAE encoder and DiffRenderer.
    assert np.abs(avatar.material.albedo.astype(int) - 128).max() > 0


def test_missing_or_incomplete_sd_folder_names_the_parts(tmp_path: Path) -> None:
    with pytest.raises(StableDiffusionWeightsError, match=r"not found.*huggingface"):
        check_sd_folder(tmp_path / "nowhere")
    with pytest.raises(StableDiffusionWeightsError, match="no Stable Diffusion folder"):
        check_sd_folder(None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StableDiffusionWeightsError) as error:
        check_sd_folder(empty)
    for part in ("model_index.json", "unet/", "vae/", "text_encoder/", "tokenizer/", "scheduler/"):
        assert part in str(error.value)
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "model_index.json").write_text("{}")
    (partial / "unet").mkdir()
    (partial / "unet" / "config.json").write_text("{}")
    with pytest.raises(StableDiffusionWeightsError, match=r"unet/ weights.*vae/"):
        check_sd_folder(partial)


@pytest.mark.slow
def test_resume_from_checkpoint_continues_the_run(ict_head, tmp_path: Path) -> None:
    config = fixed_view_config(steps=4)
    renderer = AppearanceRenderer(ict_head, config.render)
    target, _ = render_front(ict_head, renderer, pattern_texture())
    backbone = AnalyticDenoiser(target.permute(2, 0, 1)[None])
    config.optim.checkpoint_every = 2
    first = avatar_from_prompt(ict_head, "a face", tmp_path / "a", config, backbone=backbone)
    assert first.resumed_from == 0
    longer = config.model_copy(deep=True)
    longer.optim.steps = 6
    second = avatar_from_prompt(ict_head, "a face", tmp_path / "a", longer, backbone=backbone)
    assert second.resumed_from == 4 and len(second.history["sds"]) == 6
    assert second.history["sds"][:4] == first.history["sds"]
    other = avatar_from_prompt(ict_head, "another face", tmp_path / "a", config, backbone=backbone)
    assert other.resumed_from == 0  # a checkpoint of other settings is not reused
