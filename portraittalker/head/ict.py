"""ICT-FaceKit (light) behind the :class:`HeadModel` interface — the embedded default head, as a torch module.

The arrays and the rig's conventions (jaw, blink and gaze controls driving 13 blendshapes) are
:class:`~portraittalker.head.ict_rig.ICTRig`'s; this module registers them as buffers and poses them with torch,
for training, fitting and the differentiable renderer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from portraittalker.head.base import HeadModel, HeadParams, euler_to_matrix
from portraittalker.head.ict_rig import (  # noqa: F401  (re-exported: the constants' historical home)
    CM_TO_M,
    DRAWN_COMPONENTS,
    DRIVEN_BLENDSHAPES,
    EYE_LOOK_RAD_PER_WEIGHT,
    FACE_COMPONENT,
    HEAD_NECK_COMPONENT,
    JAW_LATERAL_RAD_PER_WEIGHT,
    JAW_OPEN_RAD_PER_WEIGHT,
    ICTRig,
    read_ict_arrays,
)


class ICTFaceKit(HeadModel):
    """100 identity PCs + 40 free ARKit expressions (+ jaw/eye controls) over 26,719 vertices."""

    name = "ict-facekit"

    def __init__(self, path: str | Path | ICTRig | None = None) -> None:
        super().__init__()
        rig = path if isinstance(path, ICTRig) else ICTRig(path)
        self.rig = rig
        self.source_path = rig.source_path
        self.expression_names = list(rig.expression_names)
        self.component_names = list(rig.component_names)
        self.n_identity = rig.n_identity
        for name in ("neutral", "identity_basis", "expression_basis", "driven_basis", "faces", "uvs", "face_uvs",
                     "triangle_component", "render_faces", "landmarks68", "lip_vertices", "upper_face_vertices",
                     "pivot"):
            self.register_buffer(name, torch.from_numpy(np.array(getattr(rig, name))))  # the rig's are read-only
        self.vertex_ranges = rig.vertex_ranges
        self.eyeball_slices = rig.eyeball_slices
        self._n_vertices = rig.n_vertices

    @property
    def n_vertices(self) -> int:
        return self._n_vertices

    def driven_weights(self, params: HeadParams) -> Tensor:
        """(B, 13) weights of :data:`DRIVEN_BLENDSHAPES` from jaw, blink and gaze controls."""
        jaw_open = torch.relu(params.jaw[:, 0]) / JAW_OPEN_RAD_PER_WEIGHT
        lateral = params.jaw[:, 1] / JAW_LATERAL_RAD_PER_WEIGHT
        yaw = params.eye_gaze[:, 0] / EYE_LOOK_RAD_PER_WEIGHT  # + = towards the subject's left (+X)
        pitch = params.eye_gaze[:, 1] / EYE_LOOK_RAD_PER_WEIGHT  # + = looking down
        down, up = torch.relu(pitch), torch.relu(-pitch)
        left, right = torch.relu(yaw), torch.relu(-yaw)
        # Left eye looking to +X looks "out"; the right eye looking to +X looks "in".
        look = [down, down, right, left, left, right, up, up]  # Down L/R, In L/R, Out L/R, Up L/R
        return torch.stack(
            [jaw_open, torch.relu(lateral), torch.relu(-lateral), params.eye_blink[:, 0],
             params.eye_blink[:, 1], *look], dim=-1
        )

    def deform(self, params: HeadParams) -> Tensor:
        batch = params.batch_size
        offsets = params.expression @ self.expression_basis
        offsets = offsets + self.driven_weights(params) @ self.driven_basis
        offsets = offsets + params.identity @ self.identity_basis
        vertices = self.neutral + offsets.reshape(batch, -1, 3)
        return self._rotate_eyeballs(vertices, params.eye_gaze)

    def _rotate_eyeballs(self, vertices: Tensor, gaze: Tensor) -> Tensor:
        if not bool(gaze.abs().gt(0).any()):
            return vertices
        # Gaze yaw about +Y and pitch about +X; the shared Euler convention is (pitch, yaw, roll).
        angles = torch.stack([gaze[:, 1], gaze[:, 0], torch.zeros_like(gaze[:, 0])], dim=-1)
        rotation = euler_to_matrix(angles)  # (B, 3, 3)
        parts = []
        cursor = 0
        for eye in self.eyeball_slices:
            parts.append(vertices[:, cursor:eye.start])
            ball = vertices[:, eye]
            centre = ball.mean(dim=1, keepdim=True)
            parts.append((ball - centre) @ rotation.transpose(-1, -2) + centre)
            cursor = eye.stop
        parts.append(vertices[:, cursor:])
        return torch.cat(parts, dim=1)
