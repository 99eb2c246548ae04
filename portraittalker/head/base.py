"""The parametric-head interface shared by every stage.

Conventions (all head models):
- Output vertices are in **metres**, model space, +Y up, +Z towards the viewer, +X to the
  subject's left (the viewer's right).
- ``head_rotation`` is (pitch, yaw, roll) = rotation about (x, y, z) in radians, composed as
  ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)`` and applied about ``HeadModel.pivot``. Positive pitch
  tilts the face down, positive yaw turns it to the subject's left.
- ``jaw`` is an axis-angle-like triple (x = opening, y = lateral, z = roll) in radians, as FLAME's
  jaw joint. Heads without a jaw joint (ICT) map it onto their jaw blendshapes.
- ``eye_blink`` is (left, right) in [0, 1]; ``eye_gaze`` is (yaw, pitch) in radians, both eyes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from portraittalker.head.params import HeadParams


def euler_to_matrix(angles: Tensor) -> Tensor:
    """(…, 3) radians (pitch x, yaw y, roll z) -> (…, 3, 3) rotation ``Rz @ Ry @ Rx``."""
    x, y, z = angles.unbind(-1)
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    cx, sx, cy, sy, cz, sz = x.cos(), x.sin(), y.cos(), y.sin(), z.cos(), z.sin()
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(*x.shape, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*x.shape, 3, 3)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(*x.shape, 3, 3)
    return rz @ ry @ rx


def matrix_to_euler(matrix: Tensor) -> Tensor:
    """Inverse of :func:`euler_to_matrix` for |yaw| < 90°: (…, 3, 3) -> (…, 3) radians."""
    yaw = torch.asin((-matrix[..., 2, 0]).clamp(-1.0, 1.0))
    pitch = torch.atan2(matrix[..., 2, 1], matrix[..., 2, 2])
    roll = torch.atan2(matrix[..., 1, 0], matrix[..., 0, 0])
    return torch.stack([pitch, yaw, roll], -1)


class HeadModel(nn.Module):
    """A parametric head: :class:`HeadParams` -> vertices (B, V, 3) in metres.

    Subclasses register these buffers in ``__init__``:
    ``faces`` (F, 3) long, ``uvs`` (T, 2) float, ``face_uvs`` (F, 3) long (per-corner UV indices),
    ``landmarks68`` (68,) long (Multi-PIE 68-point vertex indices), ``lip_vertices`` (L,) long,
    ``upper_face_vertices`` (U,) long, ``triangle_component`` (F,) long, ``render_faces`` (F,) bool
    (triangles drawn by default), ``pivot`` (3,) float (head-rotation centre, metres).
    """

    name: str
    n_identity: int
    expression_names: list[str]
    component_names: list[str]

    faces: Tensor
    uvs: Tensor
    face_uvs: Tensor
    landmarks68: Tensor
    lip_vertices: Tensor
    upper_face_vertices: Tensor
    triangle_component: Tensor
    render_faces: Tensor
    pivot: Tensor

    @property
    def n_expression(self) -> int:
        return len(self.expression_names)

    @property
    def n_vertices(self) -> int:
        raise NotImplementedError

    def neutral_params(self, batch_size: int = 1, device: torch.device | str = "cpu") -> HeadParams:
        def z(k: int, b: int = batch_size) -> Tensor:
            return torch.zeros(b, k, device=device)

        return HeadParams(
            identity=z(self.n_identity, 1),
            expression=z(self.n_expression),
            jaw=z(3),
            head_rotation=z(3),
            head_translation=z(3),
            eye_blink=z(2),
            eye_gaze=z(2),
        )

    def deform(self, params: HeadParams) -> Tensor:
        """Identity + expression + jaw + eyes, before the rigid head pose: (B, V, 3) metres."""
        raise NotImplementedError

    def forward(self, params: HeadParams) -> Tensor:
        """Posed vertices (B, V, 3) in metres."""
        return self.apply_head_pose(self.deform(params), params)

    def apply_head_pose(self, vertices: Tensor, params: HeadParams) -> Tensor:
        rotation = euler_to_matrix(params.head_rotation)  # (B, 3, 3)
        centred = vertices - self.pivot
        return centred @ rotation.transpose(-1, -2) + self.pivot + params.head_translation[:, None, :]

    def landmarks(self, vertices: Tensor) -> Tensor:
        """(B, V, 3) -> (B, 68, 3) landmark positions."""
        return vertices[:, self.landmarks68]
