"""ICT-FaceKit (light) behind the :class:`HeadModel` interface — the embedded default head.

The npz format is documented in ``../shared/README.md``; units there are cm and are converted
to metres here. ICT has no jaw or eye joints, so:
- ``jaw`` x (opening, radians) drives ``jawOpen`` with :data:`JAW_OPEN_RAD_PER_WEIGHT`; jaw y
  (lateral) drives ``jawLeft``/``jawRight``;
- ``eye_blink`` drives ``eyeBlink_L/R``; ``eye_gaze`` drives the ``eyeLook*`` lid blendshapes and
  rotates the eyeball meshes about their centres (the blendshapes do not move the eyeballs).
Those 13 blendshapes are therefore not part of ``expression_names``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from portraittalker.assets import ICT_FACEKIT, find_asset
from portraittalker.head import disk_cache
from portraittalker.head.base import HeadModel, HeadParams, euler_to_matrix

CM_TO_M = 0.01
# jawOpen = 1 moves the chin 4.05 cm; about a temporomandibular pivot ~12.8 cm from the chin this
# is ~0.32 rad, in line with FLAME's typical maximum jaw opening.
JAW_OPEN_RAD_PER_WEIGHT = 0.32
JAW_LATERAL_RAD_PER_WEIGHT = 0.15
# ARKit's eyeLook* = 1 corresponds to roughly 30° of gaze.
EYE_LOOK_RAD_PER_WEIGHT = 0.52
DRAWN_COMPONENTS = 11  # components 0-10; the rest are game-engine overlay geometry
FACE_COMPONENT, HEAD_NECK_COMPONENT = 0, 1
LIP_RADIUS_M = 0.008  # face vertices this close to a mouth landmark count as lip vertices

_JAW_NAMES = ("jawOpen", "jawLeft", "jawRight")
_BLINK_NAMES = ("eyeBlink_L", "eyeBlink_R")
_LOOK_NAMES = tuple(f"eyeLook{d}_{s}" for d in ("Down", "In", "Out", "Up") for s in ("L", "R"))
DRIVEN_BLENDSHAPES = _JAW_NAMES + _BLINK_NAMES + _LOOK_NAMES
_NPZ_ARRAYS = ("expression_names", "component_names", "identity_deltas", "expression_deltas", "neutral_vertices",
               "triangles", "uvs", "triangle_uvs", "component_polygon_ranges", "triangle_polygon",
               "component_vertex_ranges", "landmarks68")


def read_ict_arrays(npz_path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ICT-FaceKit npz. The asset is zip-compressed, and inflating it took ~0.3 s of every
    start-up, so the inflated arrays are kept in the disk cache, keyed by the file's hash."""
    cached = disk_cache.cache_dir("heads") / f"ict-{disk_cache.file_digest(npz_path)[:32]}.npz"
    arrays = disk_cache.load_arrays(cached, _NPZ_ARRAYS)
    if arrays is None:
        with np.load(npz_path) as data:
            arrays = {name: data[name] for name in _NPZ_ARRAYS}
        disk_cache.store_arrays(cached, arrays)
    return arrays


class ICTFaceKit(HeadModel):
    """100 identity PCs + 40 free ARKit expressions (+ jaw/eye controls) over 26,719 vertices."""

    name = "ict-facekit"

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        npz_path = Path(path) if path is not None else find_asset(ICT_FACEKIT)
        if not npz_path.is_file():
            raise FileNotFoundError(f"ICT-FaceKit npz not found: {npz_path}")
        data = read_ict_arrays(npz_path)
        all_names = [str(n) for n in data["expression_names"]]
        self.source_path = npz_path
        self.expression_names = [n for n in all_names if n not in DRIVEN_BLENDSHAPES]
        self.component_names = [str(n) for n in data["component_names"]]
        self.n_identity = int(data["identity_deltas"].shape[0])
        index = {n: i for i, n in enumerate(all_names)}

        deltas = torch.from_numpy(data["expression_deltas"].astype(np.float32)) * CM_TO_M
        n_vertices = deltas.shape[1]
        free = [index[n] for n in self.expression_names]
        self.register_buffer("neutral", torch.from_numpy(data["neutral_vertices"]) * CM_TO_M)
        self.register_buffer(
            "identity_basis",
            (torch.from_numpy(data["identity_deltas"].astype(np.float32)) * CM_TO_M).reshape(
                self.n_identity, -1
            ),
        )
        self.register_buffer("expression_basis", deltas[free].reshape(len(free), -1))
        self.register_buffer("driven_basis", deltas[[index[n] for n in DRIVEN_BLENDSHAPES]].reshape(13, -1))

        faces = torch.from_numpy(data["triangles"].astype(np.int64))
        self.register_buffer("faces", faces)
        self.register_buffer("uvs", torch.from_numpy(data["uvs"]))
        self.register_buffer("face_uvs", torch.from_numpy(data["triangle_uvs"].astype(np.int64)))
        polygon_ranges = data["component_polygon_ranges"]
        polygon = data["triangle_polygon"]
        component = np.searchsorted(polygon_ranges[:, 1], polygon, side="right")
        self.register_buffer("triangle_component", torch.from_numpy(component.astype(np.int64)))
        self.register_buffer("render_faces", torch.from_numpy(component < DRAWN_COMPONENTS))
        self.vertex_ranges = data["component_vertex_ranges"].astype(np.int64)
        self.register_buffer("landmarks68", torch.from_numpy(data["landmarks68"].astype(np.int64)))

        neutral = data["neutral_vertices"] * CM_TO_M
        face_start, face_end = self.vertex_ranges[FACE_COMPONENT]
        face_ids = np.arange(face_start, face_end)
        mouth = neutral[data["landmarks68"][48:68]]
        dist = np.linalg.norm(neutral[face_ids, None, :] - mouth[None], axis=-1).min(1)
        self.register_buffer("lip_vertices", torch.from_numpy(face_ids[dist < LIP_RADIUS_M]))
        nose_tip_y = neutral[data["landmarks68"][30], 1]
        upper = face_ids[neutral[face_ids, 1] > nose_tip_y]
        self.register_buffer("upper_face_vertices", torch.from_numpy(upper))
        # Rotate the head about a point between the ears at the base of the skull.
        head_ids = np.arange(*self.vertex_ranges[HEAD_NECK_COMPONENT])
        pivot = np.array([0.0, neutral[head_ids, 1].min() * 0.3, neutral[face_ids, 2].min()])
        self.register_buffer("pivot", torch.tensor(pivot, dtype=torch.float32))
        eyeball_ids = [np.arange(*self.vertex_ranges[self.component_names.index(n)]) for n in
                       ("eyeball_left", "eyeball_right")]
        self.eyeball_slices = [slice(int(ids[0]), int(ids[-1]) + 1) for ids in eyeball_ids]
        self._n_vertices = n_vertices

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
