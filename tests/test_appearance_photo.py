"""Photo guidance on a frame of a real clip: landmark fit, photometric texture, re-render at the fitted pose."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from portraittalker.appearance import AppearanceConfig, GuidanceError, avatar_from_photo
from portraittalker.appearance.guidance.photo import crop_to_face, fit_photo, hull_mask
from portraittalker.appearance.optimiser import psnr
from portraittalker.appearance.render import AppearanceRenderer, torch_camera
from portraittalker.avatar.asset import Avatar
from portraittalker.render.mesh import default_albedo
from portraittalker.render.scene import Lighting

RENDER = 128


@pytest.fixture(scope="module")
def first_frame(shared_dir: Path, tmp_path_factory) -> Path:
    clip = shared_dir / "data" / "real_clips" / "WDA_KatieHill_000.mp4"
    out = tmp_path_factory.mktemp("photo") / "frame0.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-frames:v", "1", str(out)], check=True)
    return out


def rerender(head, avatar: Avatar, fit, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    config = AppearanceConfig().render.model_copy(update={"image_size": size})
    renderer = AppearanceRenderer(head, config)
    params = fit.fit.params.frames(0, 1)
    params.identity = torch.as_tensor(avatar.identity)[None]
    camera = fit.fit.camera
    cam = torch_camera(torch.zeros(1), torch.zeros(1), torch.ones(1) * camera.distance_m, camera.fov_deg,
                       camera.target, size)
    albedo = torch.as_tensor(avatar.material.albedo).float()[None] / 255
    photo = torch.nn.functional.interpolate(torch.as_tensor(fit.image).float().div(255).permute(2, 0, 1)[None],
                                            size=(size, size), mode="bilinear", antialias=True)
    with torch.no_grad():
        out = renderer(head(params), albedo, cam, lighting=avatar.lighting, background=photo.permute(0, 2, 3, 1))
    mask = torch.as_tensor(hull_mask(fit.landmarks[0] * size / fit.size, size, 0.0)) * out.alpha[0]
    return out.image[0], photo[0].permute(1, 2, 0), mask


@pytest.mark.slow
def test_photo_avatar_rerenders_the_photo_and_beats_the_default(ict_head, first_frame: Path, tmp_path: Path) -> None:
    fit = fit_photo(ict_head, first_frame, size=512)
    assert fit.fit.frame_error_px[0] < 3.0  # landmarks within 3 px at 512²
    config = AppearanceConfig.model_validate({
        "texture": {"size": 128, "base_resolution": 8, "levels": 4, "coarse_to_fine": 0.3},
        "render": {"image_size": RENDER, "preview_size": 96, "preview_yaws": [0, 45, 90]},
        "optim": {"texture_lr": 0.05, "progress": False}, "photo": {"steps": 50},
    })
    result = avatar_from_photo(ict_head, first_frame, tmp_path / "me", config, photo_fit=fit)
    avatar = Avatar.load(tmp_path / "me", expected_head=ict_head)
    assert avatar.source == "photo-fit" and avatar.attributes["appearance"]["guidance"] == "photo"
    assert result.history["photometric"][-1] < 0.5 * result.history["photometric"][0]
    image, photo, mask = rerender(ict_head, avatar, fit, RENDER)
    fitted = psnr(image, photo, mask)
    print(f"face-region PSNR {fitted:.2f} dB")
    assert fitted >= 24.0, fitted
    # The stand-in avatar (mean identity, plain albedo, default lights) at the same pose is far less like her.
    default = Avatar(identity=np.zeros(ict_head.n_identity, np.float32), material=avatar.material.__class__(
        albedo=default_albedo(ict_head, 128)), lighting=Lighting(), background=avatar.background,
        head_model=ict_head.name)
    image_default, _, mask_default = rerender(ict_head, default, fit, RENDER)
    print(f"default avatar {psnr(image_default, photo, mask_default):.2f} dB")
    assert fitted > psnr(image_default, photo, mask_default) + 6.0
    colour_error = (image[mask > 0].mean(0) - photo[mask > 0].mean(0)).abs().max()
    default_error = (image_default[mask_default > 0].mean(0) - photo[mask_default > 0].mean(0)).abs().max()
    assert colour_error < 0.03 < default_error or colour_error < 0.5 * default_error
    for name in ("loss_curve.png", "turntable.png", "albedo.png"):
        assert (tmp_path / "me" / name).is_file()


def test_a_photo_without_a_face_is_a_clear_error(ict_head, tmp_path: Path) -> None:
    blank = tmp_path / "wall.png"
    from PIL import Image

    Image.fromarray(np.full((256, 256, 3), 200, np.uint8)).save(blank)
    with pytest.raises(GuidanceError, match="no face found"):
        fit_photo(ict_head, blank)
    with pytest.raises(GuidanceError, match="photo not found"):
        fit_photo(ict_head, tmp_path / "missing.jpg")


def test_crop_to_face_centres_and_scales_the_landmarks() -> None:
    photo = np.zeros((300, 400, 3), np.uint8)
    points = np.zeros((478, 3), np.float32)
    points[:, 0] = np.linspace(150, 250, 478)  # a 100 px face centred at (200, 150)
    points[:, 1] = np.linspace(100, 200, 478)
    crop, moved = crop_to_face(photo, points, size=128, scale=2.0)
    assert crop.shape == (128, 128, 3)
    assert np.allclose(moved[:, :2].mean(0), 64, atol=1.0)
    assert np.ptp(moved[:, 0]) == pytest.approx(64, abs=1.0)
    near_edge = points.copy()
    near_edge[:, 0] -= 140  # the crop leaves the photo: edge padding keeps it square
    crop, _ = crop_to_face(photo, near_edge, size=64)
    assert crop.shape == (64, 64, 3)


def test_face_mask_grows_and_shrinks_with_the_margin() -> None:
    angles = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    points = np.stack([64 + 30 * np.cos(angles), 64 + 40 * np.sin(angles)], 1).astype(np.float32)
    plain, grown, shrunk = (hull_mask(points, 128, m).sum() for m in (0.0, 0.05, -0.05))
    assert shrunk < plain < grown
    assert plain == pytest.approx(np.pi * 30 * 40, rel=0.06)
