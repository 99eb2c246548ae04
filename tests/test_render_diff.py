"""DiffRenderer: gradients, batching, tiling, backgrounds, input errors (small images, sub-meshes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from portraittalker.head.ict import ICTFaceKit
from portraittalker.render.diff import (
    DiffRenderer,
    DiffRendererConfig,
    DiffRenderError,
    TorchCamera,
    albedo_tensor,
    pytorch3d_cameras,
)
from portraittalker.render.mesh import default_albedo
from portraittalker.render.scene import Background, Camera, Lighting

SIZE = 48


@pytest.fixture(scope="module")
def head() -> ICTFaceKit:
    return ICTFaceKit()


@pytest.fixture(scope="module")
def outer_faces(head: ICTFaceKit) -> np.ndarray:
    return np.isin(head.triangle_component.numpy(), [0, 1])  # face + head/neck: the silhouette


@pytest.fixture(scope="module")
def vertices(head: ICTFaceKit) -> torch.Tensor:
    with torch.no_grad():
        return head(head.neutral_params())


@pytest.fixture(scope="module")
def albedo(head: ICTFaceKit) -> torch.Tensor:
    return albedo_tensor(default_albedo(head, 128))


def test_gradients_reach_vertices_texture_and_camera(head, outer_faces, vertices, albedo) -> None:
    config = DiffRendererConfig(blur_radius=2e-4, faces_per_pixel=4, sigma=2e-5)
    renderer = DiffRenderer(head, SIZE, config, face_subset=outer_faces)
    verts = vertices.clone().requires_grad_(True)
    texture = albedo.clone().requires_grad_(True)
    camera = TorchCamera.from_camera(Camera(image_size=SIZE, yaw_deg=20), requires_grad=True)
    out = renderer(verts, texture, camera, Lighting(), Background())
    assert out.image.shape == (1, SIZE, SIZE, 3) and out.alpha.shape == (1, SIZE, SIZE)
    assert float(out.image.detach().min()) >= 0.0 and float(out.image.detach().max()) <= 1.0
    (out.image.mean() + out.alpha.mean()).backward()
    assert verts.grad is not None and verts.grad.abs().sum() > 0
    assert texture.grad is not None and texture.grad.abs().sum() > 0
    for name in ("yaw_deg", "pitch_deg", "distance_m", "fov_deg"):
        grad = getattr(camera, name).grad
        assert grad is not None and float(grad.abs()) > 0, name


def test_soft_silhouette_gradient_moves_the_outline(head, outer_faces, vertices, albedo) -> None:
    # Blur ~2 px and a matching sigma: smooth enough for the gradient to follow finite differences.
    config = DiffRendererConfig(blur_radius=7e-3, faces_per_pixel=8, sigma=1e-3)
    renderer = DiffRenderer(head, SIZE, config, face_subset=outer_faces)
    shift = torch.zeros(1, 1, 3, requires_grad=True)
    out = renderer(vertices + shift, albedo, Camera(image_size=SIZE, projection="orthographic"), Lighting(), None)
    # Coverage of the right half grows when the head moves right (+X is image right at yaw 0).
    out.alpha[..., SIZE // 2:].sum().backward()
    with torch.no_grad():
        step = torch.tensor([0.002, 0.0, 0.0])
        camera = Camera(image_size=SIZE, projection="orthographic")
        plus = renderer(vertices + step, albedo, camera, Lighting(), None).alpha[..., SIZE // 2:].sum()
        minus = renderer(vertices - step, albedo, camera, Lighting(), None).alpha[..., SIZE // 2:].sum()
    finite_difference = float(plus - minus) / 0.004
    assert finite_difference > 0
    assert 0.3 * finite_difference < float(shift.grad[0, 0, 0]) < 3.0 * finite_difference


def test_batched_cameras_and_tiling_match_untiled(head, vertices, albedo) -> None:
    size = 32
    batch = vertices.expand(2, -1, -1)
    camera = TorchCamera.from_camera(Camera(image_size=size))
    camera.yaw_deg = torch.tensor([0.0, 35.0])
    face = head.triangle_component.numpy() == 0
    tiled = DiffRenderer(head, size, DiffRendererConfig(cpu_tile_size=12), face_subset=face)
    untiled = DiffRenderer(head, size, DiffRendererConfig(cpu_tile_size=0), face_subset=face)
    a = tiled(batch, albedo, camera, Lighting(), Background())
    b = untiled(batch, albedo, camera, Lighting(), Background())
    assert torch.equal(a.alpha, b.alpha)
    assert (a.image - b.image).abs().max() < 1e-4
    assert (a.alpha[0] != a.alpha[1]).float().mean() > 0.02  # each batch item got its own camera
    single = untiled(vertices, albedo, Camera(image_size=size, yaw_deg=35), Lighting(), Background())
    assert (single.image[0] - b.image[1]).abs().max() < 1e-4


def test_background_colour_and_image(head, outer_faces, vertices, albedo) -> None:
    renderer = DiffRenderer(head, SIZE, face_subset=outer_faces)
    camera = Camera(image_size=SIZE)
    colour = renderer(vertices, albedo, camera, Lighting(), Background(color=(0.2, 0.4, 0.6)))
    assert torch.allclose(colour.image[0, 0, 0], torch.tensor([0.2, 0.4, 0.6]))
    image = torch.zeros(1, 8, 8, 3)
    image[..., 1] = 1.0
    green = renderer(vertices, albedo, camera, Lighting(), image)
    assert torch.allclose(green.image[0, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.equal(colour.alpha, green.alpha)
    covered = green.alpha[0] > 0
    assert torch.equal(green.image[0][covered], colour.image[0][covered])


def test_pytorch3d_cameras_project_like_camera() -> None:
    points = torch.tensor([[0.03, 0.05, 0.08], [-0.05, -0.02, 0.1], [0.0, 0.1, -0.05]])
    for camera in (Camera(image_size=256, yaw_deg=30, pitch_deg=10),
                   Camera(image_size=256, projection="orthographic", yaw_deg=-20)):
        screen = pytorch3d_cameras(camera).transform_points_screen(points[None], image_size=((256, 256),))
        assert torch.allclose(screen[0, :, :2], camera.project(points), atol=1e-3)


def test_torch_camera_matches_camera_matrices() -> None:
    camera = Camera(yaw_deg=-25, pitch_deg=12, distance_m=0.8, target=(0.01, 0.02, 0.03))
    torch_camera = TorchCamera.from_camera(camera, dtype=torch.float64)
    np.testing.assert_allclose(torch_camera.view_matrix()[0].numpy(), camera.view_matrix(), atol=1e-12)
    np.testing.assert_allclose(torch_camera.projection_matrix()[0].numpy(), camera.projection_matrix(), atol=1e-12)


def test_bad_input_is_rejected(head, outer_faces, vertices, albedo) -> None:
    renderer = DiffRenderer(head, SIZE, face_subset=outer_faces)
    camera = Camera(image_size=SIZE)
    with pytest.raises(DiffRenderError, match="vertices"):
        renderer(vertices[:, :10], albedo, camera)
    with pytest.raises(DiffRenderError, match="albedo"):
        renderer(vertices, albedo[..., 0], camera)
    with pytest.raises(DiffRenderError, match="image_size"):
        renderer(vertices, albedo, Camera(image_size=SIZE + 1))
    with pytest.raises(DiffRenderError, match="face_subset"):
        DiffRenderer(head, SIZE, face_subset=np.zeros(len(outer_faces), dtype=bool))
