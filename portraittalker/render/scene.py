"""Camera, lighting and material descriptions shared by both renderers and by fitting.

Camera convention: the camera orbits ``target``. ``yaw_deg = pitch_deg = 0`` looks at the face
from the front (along -Z). Positive yaw moves the camera towards +X (the subject's left side
becomes visible); positive pitch moves it up (looking down on the head). Image pixels have their
origin at the top-left corner, x right, y down, pixel centres at +0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class Camera:
    image_size: int = 512
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    distance_m: float = 1.0
    fov_deg: float = 20.0  # vertical field of view (perspective)
    ortho_height_m: float = 0.34  # visible height (orthographic)
    target: tuple[float, float, float] = (0.0, 0.0, 0.02)
    projection: Literal["perspective", "orthographic"] = "perspective"
    near_m: float = 0.05
    far_m: float = 10.0

    @property
    def eye(self) -> np.ndarray:
        yaw, pitch = math.radians(self.yaw_deg), math.radians(self.pitch_deg)
        direction = np.array(
            [math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch)]
        )
        return np.asarray(self.target, dtype=np.float64) + self.distance_m * direction

    def view_matrix(self) -> np.ndarray:
        """World -> camera (OpenGL: camera looks along its -Z, +Y up), 4x4 float64."""
        eye, target = self.eye, np.asarray(self.target, dtype=np.float64)
        forward = target - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        view = np.eye(4)
        view[0, :3], view[1, :3], view[2, :3] = right, up, -forward
        view[:3, 3] = -view[:3, :3] @ eye
        return view

    def projection_matrix(self) -> np.ndarray:
        """Camera -> clip space (OpenGL), 4x4 float64, square aspect."""
        near, far = self.near_m, self.far_m
        proj = np.zeros((4, 4))
        if self.projection == "perspective":
            focal = 1.0 / math.tan(math.radians(self.fov_deg) / 2)
            proj[0, 0] = proj[1, 1] = focal
            proj[2, 2] = (far + near) / (near - far)
            proj[2, 3] = 2 * far * near / (near - far)
            proj[3, 2] = -1.0
        else:
            proj[0, 0] = proj[1, 1] = 2.0 / self.ortho_height_m
            proj[2, 2] = -2.0 / (far - near)
            proj[2, 3] = -(far + near) / (far - near)
            proj[3, 3] = 1.0
        return proj

    def project(self, points: Tensor) -> Tensor:
        """(…, 3) world points (metres) -> (…, 2) pixel coordinates; differentiable in ``points``."""
        import torch  # here: the renderer and generate use the matrices only, and stay without torch

        matrix = torch.as_tensor(self.projection_matrix() @ self.view_matrix(), dtype=points.dtype,
                                 device=points.device)
        homogeneous = torch.cat([points, torch.ones_like(points[..., :1])], dim=-1) @ matrix.T
        ndc = homogeneous[..., :2] / homogeneous[..., 3:4]
        x = (ndc[..., 0] + 1.0) * 0.5 * self.image_size
        y = (1.0 - ndc[..., 1]) * 0.5 * self.image_size
        return torch.stack([x, y], dim=-1)


@dataclass(frozen=True)
class DirectionalLight:
    direction: tuple[float, float, float]  # direction the light travels *towards the scene origin from*,
    # i.e. the unit vector from the scene towards the light (world space)
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    intensity: float = 1.0


@dataclass(frozen=True)
class Lighting:
    ambient: tuple[float, float, float] = (0.35, 0.35, 0.35)
    lights: tuple[DirectionalLight, ...] = (
        DirectionalLight((0.4, 0.5, 1.0), intensity=0.75),
        DirectionalLight((-0.6, 0.1, 0.6), intensity=0.25),
    )


@dataclass(frozen=True)
class Material:
    """Per-avatar surface: a UV albedo texture (H, W, 3) uint8 plus Blinn-Phong specular terms.

    ``specular_map`` (H, W) float in [0, 1], if given, scales ``specular`` per texel (wet lips and
    eyes shine, skin less).
    """

    albedo: np.ndarray
    specular: float = 0.25
    shininess: float = 24.0
    specular_map: np.ndarray | None = None


@dataclass(frozen=True)
class Background:
    """A solid colour, or an image (H, W, 3) uint8 resized to the frame."""

    color: tuple[float, float, float] = (0.12, 0.12, 0.14)
    image: np.ndarray | None = field(default=None, repr=False)
