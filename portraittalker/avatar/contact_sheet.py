"""Render designed avatars side by side (front, three-quarter, profile) to eyeball the designer's output.

``python -m portraittalker.avatar.contact_sheet out.png "young woman, red hair" "old man, beard" --seed 1``
Needs the OpenGL renderer (EGL); it is a development/inspection tool, not a pipeline stage.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from portraittalker.avatar.asset import Avatar
from portraittalker.avatar.postprocess import apply_film_grain
from portraittalker.head.base import HeadModel
from portraittalker.render.scene import Camera


def render_avatar_views(head: HeadModel, avatar: Avatar, image_size: int = 320,
                        yaws: Sequence[float] = (0.0, 35.0, 90.0)) -> np.ndarray:
    """(image_size, len(yaws) * image_size, 3) uint8: the avatar's neutral face from several yaws."""
    from portraittalker.render.gl import GLRenderer  # imported lazily: needs EGL

    params = head.neutral_params()
    params.identity = torch.as_tensor(avatar.identity)[None]
    with torch.no_grad():
        vertices = head(params)[0].cpu().numpy().astype(np.float32)
    renderer = GLRenderer(head, image_size)
    try:
        renderer.set_appearance(avatar.material, avatar.lighting, avatar.background)
        views = []
        for index, yaw in enumerate(yaws):
            frame = renderer.render(vertices, Camera(image_size=image_size, yaw_deg=yaw))
            if avatar.film_grain > 0:
                frame = apply_film_grain(frame, avatar.film_grain, np.random.default_rng(index))
            views.append(frame)
    finally:
        renderer.release()
    return np.concatenate(views, axis=1)


def contact_sheet(head: HeadModel, avatars: Sequence[Avatar], image_size: int = 320,
                  yaws: Sequence[float] = (0.0, 35.0, 90.0)) -> np.ndarray:
    """One row per avatar, captioned with its prompt."""
    rows = []
    for avatar in avatars:
        row = Image.fromarray(render_avatar_views(head, avatar, image_size, yaws))
        ImageDraw.Draw(row).text((6, 6), f"{avatar.prompt[:90]}  (seed {avatar.seed})", fill=(255, 255, 255))
        rows.append(np.asarray(row))
    return np.concatenate(rows, axis=0)


def main(argv: Sequence[str] | None = None) -> None:
    from portraittalker.avatar.designer import AttributeDesigner
    from portraittalker.head.ict import ICTFaceKit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("prompts", nargs="+")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=320)
    args = parser.parse_args(argv)
    head = ICTFaceKit()
    designer = AttributeDesigner(head)
    avatars = [designer.design(prompt, seed=args.seed) for prompt in args.prompts]
    Image.fromarray(contact_sheet(head, avatars, args.size)).save(args.output)


if __name__ == "__main__":
    main()
