"""ICT-FaceKit (light) as numpy arrays and its linear rig, without torch.

:class:`ICTRig` holds every array of the head (bases in metres, topology, masks, pivot) and poses it with the same
formulas as :class:`~portraittalker.head.ict.ICTFaceKit`, the torch module built from it for training and fitting.
``generate`` poses the rig directly, so its process never imports torch. The npz format is documented in
``../shared/README.md``; units there are cm and are converted to metres here. ICT has no jaw or eye joints, so:
- ``jaw`` x (opening, radians) drives ``jawOpen`` with :data:`JAW_OPEN_RAD_PER_WEIGHT`; jaw y
  (lateral) drives ``jawLeft``/``jawRight``;
- ``eye_blink`` drives ``eyeBlink_L/R``; ``eye_gaze`` drives the ``eyeLook*`` lid blendshapes and
  rotates the eyeball meshes about their centres (the blendshapes do not move the eyeballs).
Those 13 blendshapes are therefore not part of ``expression_names``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from portraittalker.assets import ICT_FACEKIT, find_asset
from portraittalker.head import disk_cache
from portraittalker.head.params import HeadParams

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
    """The arrays of an ICT-FaceKit npz (zip-compressed: inflating it takes ~0.3 s)."""
    with np.load(npz_path) as data:
        return {name: data[name] for name in _NPZ_ARRAYS}


_RIG_FORMAT = 1  # bump when _derive_rig_arrays changes what it computes: old cache entries are then ignored
_RIG_ARRAYS = ("expression_names", "component_names", "neutral", "identity_basis", "expression_basis",
               "driven_basis", "faces", "uvs", "face_uvs", "triangle_component", "render_faces", "vertex_ranges",
               "landmarks68", "lip_vertices", "upper_face_vertices", "pivot", "eyeball_ranges")


def rig_arrays(npz_path: Path) -> dict[str, np.ndarray]:
    """The rig's arrays (metres, float32 bases, topology, masks, pivot) of an ICT-FaceKit npz, kept in the disk cache
    keyed by the file's hash and read back memory-mapped: inflating the asset and converting it took ~0.25 s of
    every start-up, reading the cached entry ~1 ms."""
    entry = disk_cache.cache_dir("heads") / f"ict-rig-v{_RIG_FORMAT}-{disk_cache.file_digest(npz_path)[:32]}"
    arrays = disk_cache.load_arrays(entry, _RIG_ARRAYS)
    if arrays is None:
        arrays = _derive_rig_arrays(read_ict_arrays(npz_path))
        disk_cache.store_arrays(entry, arrays)
    return arrays


def _derive_rig_arrays(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    all_names = [str(n) for n in data["expression_names"]]
    expression_names = [n for n in all_names if n not in DRIVEN_BLENDSHAPES]
    component_names = [str(n) for n in data["component_names"]]
    index = {n: i for i, n in enumerate(all_names)}
    n_identity = int(data["identity_deltas"].shape[0])
    deltas = data["expression_deltas"].astype(np.float32) * np.float32(CM_TO_M)
    free = [index[n] for n in expression_names]
    component = np.searchsorted(data["component_polygon_ranges"][:, 1], data["triangle_polygon"], side="right")
    vertex_ranges = data["component_vertex_ranges"].astype(np.int64)
    landmarks68 = data["landmarks68"].astype(np.int64)

    neutral = data["neutral_vertices"] * CM_TO_M
    face_ids = np.arange(*vertex_ranges[FACE_COMPONENT])
    mouth = neutral[landmarks68[48:68]]
    dist = np.linalg.norm(neutral[face_ids, None, :] - mouth[None], axis=-1).min(1)
    nose_tip_y = neutral[landmarks68[30], 1]
    # Rotate the head about a point between the ears at the base of the skull.
    head_ids = np.arange(*vertex_ranges[HEAD_NECK_COMPONENT])
    pivot = np.array([0.0, neutral[head_ids, 1].min() * 0.3, neutral[face_ids, 2].min()])
    eyeball_ranges = [vertex_ranges[component_names.index(n)] for n in ("eyeball_left", "eyeball_right")]
    return {
        "expression_names": np.array(expression_names), "component_names": np.array(component_names),
        "neutral": data["neutral_vertices"].astype(np.float32) * np.float32(CM_TO_M),  # (V, 3)
        "identity_basis": (data["identity_deltas"].astype(np.float32) * np.float32(CM_TO_M)).reshape(
            n_identity, -1),  # (n_identity, 3V)
        "expression_basis": deltas[free].reshape(len(free), -1),  # (n_expression, 3V)
        "driven_basis": deltas[[index[n] for n in DRIVEN_BLENDSHAPES]].reshape(13, -1),  # (13, 3V)
        "faces": data["triangles"].astype(np.int64),
        "uvs": data["uvs"],
        "face_uvs": data["triangle_uvs"].astype(np.int64),
        "triangle_component": component.astype(np.int64),
        "render_faces": component < DRAWN_COMPONENTS,
        "vertex_ranges": vertex_ranges,
        "landmarks68": landmarks68,
        "lip_vertices": face_ids[dist < LIP_RADIUS_M],
        "upper_face_vertices": face_ids[neutral[face_ids, 1] > nose_tip_y],
        "pivot": pivot.astype(np.float32),
        "eyeball_ranges": np.array(eyeball_ranges, np.int64),  # (2, 2) [start, stop) left, right
    }


def euler_to_matrix(angles: np.ndarray) -> np.ndarray:
    """(…, 3) radians (pitch x, yaw y, roll z) -> (…, 3, 3) rotation ``Rz @ Ry @ Rx`` (see :mod:`..base`)."""
    x, y, z = np.moveaxis(np.asarray(angles), -1, 0)
    one, zero = np.ones_like(x), np.zeros_like(x)
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    rx = np.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).reshape(*x.shape, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*x.shape, 3, 3)
    rz = np.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).reshape(*x.shape, 3, 3)
    return rz @ ry @ rx


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


class ICTRig:
    """100 identity PCs + 40 free ARKit expressions (+ jaw/eye controls) over 26,719 vertices, in numpy.

    Same attributes as a :class:`~portraittalker.head.base.HeadModel` (numpy arrays instead of tensors) and the same
    ``neutral_params`` / ``deform`` / ``apply_head_pose`` / call, on a :class:`HeadParams` of (B, k) float32 arrays.
    """

    name = "ict-facekit"

    def __init__(self, path: str | Path | None = None) -> None:
        npz_path = Path(path) if path is not None else find_asset(ICT_FACEKIT)
        if not npz_path.is_file():
            raise FileNotFoundError(f"ICT-FaceKit npz not found: {npz_path}")
        data = rig_arrays(npz_path)  # read-only, memory-mapped
        self.source_path = npz_path
        self.expression_names = [str(n) for n in data["expression_names"]]
        self.component_names = [str(n) for n in data["component_names"]]
        for name in ("neutral", "identity_basis", "expression_basis", "driven_basis", "faces", "uvs", "face_uvs",
                     "triangle_component", "render_faces", "vertex_ranges", "landmarks68", "lip_vertices",
                     "upper_face_vertices", "pivot"):
            setattr(self, name, data[name])
        self.n_identity = int(self.identity_basis.shape[0])
        self._n_vertices = int(self.neutral.shape[0])
        self.eyeball_slices = [slice(int(start), int(stop)) for start, stop in data["eyeball_ranges"]]

    @property
    def n_vertices(self) -> int:
        return self._n_vertices

    @property
    def n_expression(self) -> int:
        return len(self.expression_names)

    def neutral_params(self, batch_size: int = 1) -> HeadParams:
        def z(k: int, b: int = batch_size) -> np.ndarray:
            return np.zeros((b, k), np.float32)

        return HeadParams(identity=z(self.n_identity, 1), expression=z(self.n_expression), jaw=z(3),
                          head_rotation=z(3), head_translation=z(3), eye_blink=z(2), eye_gaze=z(2))

    def driven_weights(self, params: HeadParams) -> np.ndarray:
        """(B, 13) weights of :data:`DRIVEN_BLENDSHAPES` from jaw, blink and gaze controls."""
        jaw, gaze, blink = np.asarray(params.jaw), np.asarray(params.eye_gaze), np.asarray(params.eye_blink)
        lateral = jaw[:, 1] / np.float32(JAW_LATERAL_RAD_PER_WEIGHT)
        yaw = gaze[:, 0] / np.float32(EYE_LOOK_RAD_PER_WEIGHT)  # + = towards the subject's left (+X)
        pitch = gaze[:, 1] / np.float32(EYE_LOOK_RAD_PER_WEIGHT)  # + = looking down
        down, up, left, right = _relu(pitch), _relu(-pitch), _relu(yaw), _relu(-yaw)
        # Left eye looking to +X looks "out"; the right eye looking to +X looks "in".
        look = [down, down, right, left, left, right, up, up]  # Down L/R, In L/R, Out L/R, Up L/R
        return np.stack([_relu(jaw[:, 0]) / np.float32(JAW_OPEN_RAD_PER_WEIGHT), _relu(lateral), _relu(-lateral),
                         blink[:, 0], blink[:, 1], *look], axis=-1).astype(np.float32)

    def deform(self, params: HeadParams) -> np.ndarray:
        """Identity + expression + jaw + eyes, before the rigid head pose: (B, V, 3) float32 metres."""
        offsets = np.asarray(params.expression, np.float32) @ self.expression_basis
        offsets += self.driven_weights(params) @ self.driven_basis
        offsets += np.asarray(params.identity, np.float32) @ self.identity_basis
        vertices = self.neutral + offsets.reshape(params.batch_size, -1, 3)
        return self._rotate_eyeballs(vertices, np.asarray(params.eye_gaze, np.float32))

    def _rotate_eyeballs(self, vertices: np.ndarray, gaze: np.ndarray) -> np.ndarray:
        if not (gaze != 0).any():
            return vertices
        # Gaze yaw about +Y and pitch about +X; the shared Euler convention is (pitch, yaw, roll).
        rotation = euler_to_matrix(np.stack([gaze[:, 1], gaze[:, 0], np.zeros_like(gaze[:, 0])], -1))
        for eye in self.eyeball_slices:
            ball = vertices[:, eye]
            centre = ball.mean(axis=1, keepdims=True)
            vertices[:, eye] = (ball - centre) @ rotation.transpose(0, 2, 1) + centre
        return vertices

    def apply_head_pose(self, vertices: np.ndarray, params: HeadParams) -> np.ndarray:
        rotation = euler_to_matrix(np.asarray(params.head_rotation, np.float32))  # (B, 3, 3)
        posed = (vertices - self.pivot) @ rotation.transpose(0, 2, 1)
        posed += self.pivot + np.asarray(params.head_translation, np.float32)[:, None, :]
        return posed

    def __call__(self, params: HeadParams) -> np.ndarray:
        """Posed vertices (B, V, 3) float32 metres."""
        return self.apply_head_pose(self.deform(params), params)

    def landmarks(self, vertices: np.ndarray) -> np.ndarray:
        """(B, V, 3) -> (B, 68, 3) landmark positions."""
        return vertices[:, self.landmarks68]
