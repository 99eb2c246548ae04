"""Pictures written beside an optimised avatar: the loss curve and a turntable contact sheet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from portraittalker.appearance.config import RenderSection
from portraittalker.appearance.render import AppearanceRenderer, torch_camera
from portraittalker.head.base import HeadModel, HeadParams
from portraittalker.render.scene import Lighting

TURNTABLE_YAWS = (-60.0, -30.0, 0.0, 30.0, 60.0, 90.0)


def plot_losses(history: dict[str, list[float]], path: str | Path, title: str = "") -> Path:
    """One panel per loss term (raw and moving average, log scale where positive)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in history if history[n]]
    figure, axes = plt.subplots(len(names), 1, figsize=(7, 1.9 * max(len(names), 1) + 0.6), squeeze=False)
    for axis, name in zip(axes[:, 0], names, strict=True):
        values = np.asarray(history[name], dtype=np.float64)
        steps = np.arange(len(values))
        axis.plot(steps, values, color="0.75", linewidth=0.8)
        window = max(1, len(values) // 25)
        if window > 1:
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            axis.plot(steps[window - 1 :], smooth, color="C0", linewidth=1.5)
        if np.all(values > 0) and values.max() / max(values.min(), 1e-30) > 20:
            axis.set_yscale("log")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    if title:
        axes[0, 0].set_title(title[:100])
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


@torch.no_grad()
def render_turntable(head: HeadModel, vertices_of: callable, albedo: torch.Tensor, lighting: Lighting,
                     sh: torch.Tensor | None, render_config: RenderSection, size: int,
                     background: Sequence[float] = (0.5, 0.5, 0.5), yaws: Sequence[float] = TURNTABLE_YAWS,
                     device: torch.device | str = "cpu", caption: str = "") -> np.ndarray:
    """(size * 2, size * len(yaws), 3) uint8: neutral turntable on top, open mouth + smile below."""
    renderer = AppearanceRenderer(head, render_config, device=device, image_size=size)
    renderer.sh = sh
    rows = []
    for row in range(2):
        params: HeadParams = head.neutral_params(len(yaws), device)
        if row == 1:
            params.jaw[:, 0] = 0.22
            names = list(getattr(head, "expression_names", []))
            for name in ("mouthSmile_L", "mouthSmile_R"):
                if name in names:
                    params.expression[:, names.index(name)] = 0.5
        vertices = vertices_of(params)
        yaw = torch.tensor(yaws, dtype=torch.float32, device=device)
        camera = torch_camera(yaw, torch.zeros_like(yaw), torch.ones_like(yaw), 20.0, (0.0, 0.0, 0.02), size)
        camera.fov_deg, camera.ortho_height_m = camera.fov_deg.to(device), camera.ortho_height_m.to(device)
        camera.target = camera.target.to(device)
        bg = torch.tensor(tuple(background), dtype=torch.float32, device=device).expand(len(yaws), size, size, 3)
        out = renderer(vertices, albedo.to(device), camera, lighting=lighting, background=bg)
        images = (out.image.clamp(0, 1) * 255).round().byte().cpu().numpy()
        rows.append(np.concatenate(list(images), axis=1))
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    if caption:
        ImageDraw.Draw(sheet).text((4, 4), caption[:120], fill=(255, 255, 255))
    return np.asarray(sheet)
