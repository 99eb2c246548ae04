"""FLAME (Li et al., SIGGRAPH Asia 2017) behind the :class:`HeadModel` interface — an optional head.

The user supplies the model (registration at https://flame.is.tue.mpg.de/; its license forbids
redistribution): FLAME 2020 ``generic_model.pkl`` or FLAME 2023 ``flame2023.pkl``. Those are python-2
pickles holding ``chumpy`` arrays and a scipy sparse ``J_regressor``; they are read here *without*
chumpy by a restricted unpickler that only admits numpy/scipy-sparse/chumpy globals and turns every
``chumpy.ch.Ch`` back into the ndarray stored in its state (``x``).

Standard FLAME: ``v = LBS(v_template + S·shape + E·expression + P(pose), J(v_shaped), pose, W)`` with
five joints (root, neck, jaw, left eye, right eye). Mapping of :class:`HeadParams` (FLAME is already
metres, +Y up, +Z towards the viewer):
- ``identity`` -> the first ``n_shape`` shape components, ``expression`` -> the first ``n_expression``
  expression components (named ``exp000``...);
- ``jaw`` (axis-angle) -> the jaw joint; ``eye_gaze`` (yaw, pitch) -> both eye joints, as the rotation
  ``Ry(yaw) @ Rx(pitch)`` (the shared Euler convention, so + yaw looks to +X, + pitch looks down);
- ``head_rotation``/``head_translation`` -> :meth:`HeadModel.apply_head_pose` about :attr:`pivot` (the
  template's neck joint); the root and neck joints stay at identity, so ICT and FLAME pose alike;
- ``eye_blink`` has no effect: FLAME has no eyelid joint or blink blendshape (blinks live, entangled,
  in the expression space).

Optional companion files, found next to the model file when not given explicitly:
- UVs: ``FLAME_texture.npz`` (``vt``/``ft``) or ``head_template.obj``; without one, a cylindrical
  projection of ``v_template`` is used (NOT the official layout: textures made for FLAME won't fit);
- landmarks: ``landmark_embedding.npy`` (DECA's barycentric embedding; the yaw-0 contour is used);
  without one the model still deforms and renders, but ``landmarks68``/:meth:`landmarks` raise
  :class:`LandmarksUnavailableError` (check :attr:`FLAME.has_landmarks`);
- masks: ``FLAME_masks.pkl`` (``lips``, ``face``, ...) for ``lip_vertices``/``upper_face_vertices``;
  without it they are approximated (see :func:`_region_vertices`).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from portraittalker.assets import FLAME_MODEL, AssetMissingError, find_flame_model
from portraittalker.errors import PortraitTalkerError
from portraittalker.head.base import HeadModel, HeadParams, euler_to_matrix
from portraittalker.head.config import FLAMEConfig

FLAME_EXPRESSION_COMPONENTS = 100  # the last 100 columns of shapedirs in FLAME 2020 and 2023
ROOT, NECK, JAW, EYE_A, EYE_B = range(5)
N_JOINTS = 5
UV_FILENAMES = ("FLAME_texture.npz", "head_template.obj", "head_template_mesh.obj")
LANDMARK_FILENAMES = ("landmark_embedding.npy",)
MASK_FILENAMES = ("FLAME_masks.pkl",)
LANDMARK_HOW_TO_GET = (
    "pass landmark_embedding_path= or put `landmark_embedding.npy` next to the FLAME model; it ships with "
    "DECA's data (github.com/yfeng95/DECA, `fetch_data.sh`) and the FLAME site's landmark embeddings"
)
LIP_RADIUS_M = 0.008  # as ICT: vertices this close to a mouth landmark count as lip vertices
FALLBACK_MOUTH_RADIUS_M = 0.03  # without landmarks or masks: half a mouth width around the lip midline
FACE_DEPTH_BEHIND_EYES_M = 0.03  # "face" = vertices no more than this far behind the eyeball centres


class FlameFormatError(PortraitTalkerError, ValueError):
    """A FLAME file is unreadable or not in the expected layout; the message names the file and the key."""


class LandmarksUnavailableError(AssetMissingError):
    """Landmarks were requested from a FLAME model loaded without a landmark embedding."""


# --- chumpy-free, restricted unpickling ---------------------------------------------------------------------


class _ChumpyStandIn:
    """Takes the place of any ``chumpy`` class while unpickling; keeps the pickled state for later."""

    chumpy_class = "chumpy.ch.Ch"

    def __new__(cls, *args: Any, **kwargs: Any) -> _ChumpyStandIn:
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _SparseStandIn:
    """Takes the place of scipy's sparse matrix classes (whose module paths moved since FLAME was pickled)."""

    sparse_format = "csc"

    def __new__(cls, *args: Any, **kwargs: Any) -> _SparseStandIn:
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        self.state = state


# Raw (possibly python-2) module names; anything else in the pickle is refused rather than imported.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
    ("__builtin__", "set"), ("builtins", "set"), ("__builtin__", "frozenset"), ("builtins", "frozenset"),
    ("__builtin__", "object"), ("builtins", "object"), ("_codecs", "encode"),
    # DECA's landmark_embedding.npy holds a few torch tensors (plain-pickled); see _torch_storage_from_bytes.
    ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"), ("collections", "OrderedDict"),
}
_SPARSE_FORMATS = {"csc_matrix": "csc", "csr_matrix": "csr", "coo_matrix": "coo"}


class _FlameUnpickler(pickle.Unpickler):
    def __init__(self, handle: io.BufferedIOBase, source: Path) -> None:
        super().__init__(handle, encoding="latin1")
        self.source = source
        self.stand_ins: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return self._stand_in(_ChumpyStandIn, module, name, chumpy_class=f"{module}.{name}")
        if module.startswith("scipy.sparse") and name in _SPARSE_FORMATS:
            return self._stand_in(_SparseStandIn, module, name, sparse_format=_SPARSE_FORMATS[name])
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _torch_storage_from_bytes
        if (module, name) in _SAFE_GLOBALS:
            if module.startswith("numpy._core") and not hasattr(np, "_core"):
                module = module.replace("numpy._core", "numpy.core")  # written by numpy 2, read by numpy 1
            return super().find_class(module, name)
        raise FlameFormatError(f"{self.source}: refusing to unpickle unexpected global {module}.{name}")

    def _stand_in(self, base: type, module: str, name: str, **attrs: str) -> type:
        key = (module, name)
        if key not in self.stand_ins:
            self.stand_ins[key] = type(name, (base,), attrs)
        return self.stand_ins[key]


def _torch_storage_from_bytes(data: bytes) -> Any:
    """What ``torch.storage._load_from_bytes`` does, but with torch's safe (weights-only) unpickler."""
    return torch.load(io.BytesIO(data), weights_only=True)


def _materialise(obj: Any, where: str) -> Any:
    """Replace stand-ins by numpy arrays / scipy matrices, recursively."""
    if isinstance(obj, _ChumpyStandIn):
        state = obj.state if isinstance(obj.state, dict) else {}
        if obj.chumpy_class.rsplit(".", 1)[-1] != "Ch" or "x" not in state:
            raise FlameFormatError(
                f"{where}: a derived chumpy expression ({obj.chumpy_class}) cannot be evaluated without chumpy; "
                "only plain chumpy.ch.Ch arrays are supported (as in the official FLAME files)"
            )
        return np.asarray(_materialise(state["x"], where))
    if isinstance(obj, _SparseStandIn):
        return _sparse_from_state(obj, where)
    if isinstance(obj, Tensor):
        return obj.detach().cpu().numpy()
    if isinstance(obj, dict):
        return {k: _materialise(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, where) for v in obj)
    return obj


def _sparse_from_state(obj: _SparseStandIn, where: str) -> Any:
    import scipy.sparse as sp

    state = obj.state if isinstance(obj.state, dict) else {}
    shape = state.get("_shape", state.get("shape"))
    try:
        if obj.sparse_format == "coo":
            return sp.coo_matrix((state["data"], (state["row"], state["col"])), shape=shape)
        build = sp.csc_matrix if obj.sparse_format == "csc" else sp.csr_matrix
        return build((state["data"], state["indices"], state["indptr"]), shape=shape)
    except (KeyError, ValueError, TypeError) as exc:
        raise FlameFormatError(f"{where}: unreadable scipy sparse {obj.sparse_format} matrix: {exc}") from exc


def load_flame_pickle(path: str | Path) -> dict[str, Any]:
    """Load a FLAME-style pickle (python 2, chumpy inside) into plain numpy/scipy objects, chumpy not needed."""
    source = Path(path)
    try:
        with open(source, "rb") as handle:
            raw = _FlameUnpickler(handle, source).load()
    except FlameFormatError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError) as exc:
        raise FlameFormatError(f"{source}: not a readable FLAME pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(raw, dict):
        raise FlameFormatError(f"{source}: expected a dict of arrays, got {type(raw).__name__}")
    return _materialise(raw, str(source))


def _load_npy_dict(path: Path) -> dict[str, Any]:
    """An ``.npy`` holding a pickled dict (DECA's landmark embedding), through the restricted unpickler."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _shape, _fortran, dtype = read_header(handle)
        if not dtype.hasobject:
            raise FlameFormatError(f"{path}: expected a pickled dict inside the .npy, got a {dtype} array")
        raw = _FlameUnpickler(handle, path).load()  # type: ignore[arg-type]
    if isinstance(raw, np.ndarray) and raw.dtype == object and raw.size == 1:
        raw = raw.reshape(()).item()
    if not isinstance(raw, dict):
        raise FlameFormatError(f"{path}: expected a dict, got {type(raw).__name__}")
    return _materialise(raw, str(path))


def _load_dict(path: Path) -> dict[str, Any]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    if path.suffix == ".npy":
        return _load_npy_dict(path)
    return load_flame_pickle(path)


# --- geometry helpers -------------------------------------------------------------------------------------


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """(…, 3) axis-angle -> (…, 3, 3) by Rodrigues; exact gradients at zero (Taylor branch)."""
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)[..., None]  # (…, 1, 1)
    small = theta2 < 1e-8
    theta = theta2.clamp_min(1e-8).sqrt()
    sin_term = torch.where(small, 1 - theta2 / 6, theta.sin() / theta)
    cos_term = torch.where(small, 0.5 - theta2 / 24, (1 - theta.cos()) / theta2.clamp_min(1e-8))
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*x.shape, 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + sin_term * skew + cos_term * (skew @ skew)


def cylindrical_uvs(vertices: np.ndarray) -> np.ndarray:
    """Fallback per-vertex UVs: u = angle around the vertical axis (seam at the back), v = height."""
    centre = vertices.mean(0)
    u = 0.5 + np.arctan2(vertices[:, 0] - centre[0], vertices[:, 2] - centre[2]) / (2 * np.pi)
    height = vertices[:, 1]
    v = (height - height.min()) / max(float(np.ptp(height)), 1e-9)
    return np.stack([u, v], -1).astype(np.float32)


def _find_sibling(model_path: Path, names: tuple[str, ...]) -> Path | None:
    return next((model_path.parent / n for n in names if (model_path.parent / n).is_file()), None)


class FLAME(HeadModel):
    """FLAME with ``n_shape`` identity and ``n_expression`` expression components over 5023 vertices."""

    name = "flame"
    models_eye_blink = False  # eye_blink is accepted and ignored (see the module docstring)

    def __init__(
        self,
        path: str | Path | None = None,
        n_shape: int = 100,
        n_expression: int = 50,
        *,
        uv_path: str | Path | None = None,
        landmark_embedding_path: str | Path | None = None,
        masks_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        model_path = Path(path).expanduser() if path is not None else find_flame_model()
        if not model_path.is_file():
            raise AssetMissingError(f"FLAME model file not found: {model_path}. To get it, {FLAME_MODEL.how_to_get}.")
        self.source_path = model_path
        data = load_flame_pickle(model_path)
        arrays = _validated_arrays(data, model_path)
        v_template, shapedirs, posedirs = arrays["v_template"], arrays["shapedirs"], arrays["posedirs"]
        n_vertices = v_template.shape[0]
        n_shape_available = shapedirs.shape[2] - FLAME_EXPRESSION_COMPONENTS
        if not 0 <= n_shape <= n_shape_available:
            raise ValueError(f"n_shape={n_shape}: {model_path.name} has {n_shape_available} shape components")
        if not 0 <= n_expression <= FLAME_EXPRESSION_COMPONENTS:
            raise ValueError(
                f"n_expression={n_expression}: FLAME has {FLAME_EXPRESSION_COMPONENTS} expression components"
            )

        self.n_identity = n_shape
        self.expression_names = [f"exp{i:03d}" for i in range(n_expression)]
        self._n_vertices = n_vertices
        parents = arrays["kintree_table"][0].astype(np.int64)
        parents[ROOT] = -1  # stored as uint32 max in the pickle
        self.parents = parents.tolist()

        def basis(columns: np.ndarray) -> Tensor:  # (V, 3, K) -> (K, V*3)
            return torch.from_numpy(np.ascontiguousarray(columns.reshape(n_vertices * 3, -1).T, dtype=np.float32))

        self.register_buffer("v_template", torch.from_numpy(v_template.astype(np.float32)))
        self.register_buffer("shape_basis", basis(shapedirs[:, :, :n_shape]))
        self.register_buffer(
            "expression_basis", basis(shapedirs[:, :, n_shape_available : n_shape_available + n_expression])
        )
        self.register_buffer("pose_basis", basis(posedirs))  # (9 * (J - 1), V*3)
        self.register_buffer("J_regressor", torch.from_numpy(arrays["J_regressor"].astype(np.float32)))
        self.register_buffer("lbs_weights", torch.from_numpy(arrays["weights"].astype(np.float32)))
        faces = arrays["f"].astype(np.int64)
        self.register_buffer("faces", torch.from_numpy(faces))

        # Components from skinning: FLAME's eyeballs are rigidly bound to the eye joints.
        joints = arrays["J_regressor"] @ v_template
        left_eye, right_eye = (EYE_A, EYE_B) if joints[EYE_A, 0] > joints[EYE_B, 0] else (EYE_B, EYE_A)
        dominant = arrays["weights"].argmax(1)
        vertex_component = np.select([dominant == left_eye, dominant == right_eye], [1, 2], 0)
        self.component_names = ["head", "eyeball_left", "eyeball_right"]
        corner = vertex_component[faces]
        triangle_component = np.where((corner == corner[:, :1]).all(1), corner[:, 0], 0)
        self.register_buffer("triangle_component", torch.from_numpy(triangle_component.astype(np.int64)))
        self.register_buffer("render_faces", torch.ones(len(faces), dtype=torch.bool))
        self.register_buffer("pivot", torch.tensor(joints[NECK], dtype=torch.float32))

        uv_file = Path(uv_path) if uv_path is not None else _find_sibling(model_path, UV_FILENAMES)
        uvs, face_uvs = _load_uvs(uv_file, faces) if uv_file is not None else (cylindrical_uvs(v_template), faces)
        self.uv_source = str(uv_file) if uv_file is not None else "cylindrical projection (not FLAME's layout)"
        self.register_buffer("uvs", torch.from_numpy(uvs.astype(np.float32)))
        self.register_buffer("face_uvs", torch.from_numpy(face_uvs.astype(np.int64)))

        lmk_file = (
            Path(landmark_embedding_path) if landmark_embedding_path is not None
            else _find_sibling(model_path, LANDMARK_FILENAMES)
        )
        self.has_landmarks = lmk_file is not None
        landmark_positions = None
        if lmk_file is not None:
            lmk_faces, lmk_bary = _load_landmark_embedding(lmk_file, len(faces))
            self.register_buffer("landmark_faces", torch.from_numpy(lmk_faces))
            self.register_buffer("landmark_bary", torch.from_numpy(lmk_bary))
            # Nearest-vertex stand-in for consumers that index vertices directly.
            nearest = faces[lmk_faces, lmk_bary.argmax(1)]
            self.register_buffer("landmarks68", torch.from_numpy(nearest.astype(np.int64)))
            landmark_positions = np.einsum("lk,lkc->lc", lmk_bary, v_template[faces[lmk_faces]])

        mask_file = Path(masks_path) if masks_path is not None else _find_sibling(model_path, MASK_FILENAMES)
        masks = _load_masks(mask_file, n_vertices) if mask_file is not None else None
        lips, upper = _region_vertices(
            v_template, arrays["weights"], vertex_component, joints[[left_eye, right_eye]], landmark_positions, masks
        )
        self.register_buffer("lip_vertices", torch.from_numpy(lips))
        self.register_buffer("upper_face_vertices", torch.from_numpy(upper))

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            # Only once construction decided there are no landmarks (register_buffer probes with hasattr).
            if name == "landmarks68" and self.__dict__.get("has_landmarks") is False:
                raise self._no_landmarks() from None
            raise

    def _no_landmarks(self) -> LandmarksUnavailableError:
        return LandmarksUnavailableError(
            f"FLAME ({self.source_path}) was loaded without a landmark embedding, so it has no 68-point "
            f"landmarks. To get them, {LANDMARK_HOW_TO_GET}."
        )

    @classmethod
    def from_config(cls, config: FLAMEConfig) -> FLAME:
        return cls(
            config.path, config.n_shape, config.n_expression, uv_path=config.uv_path,
            landmark_embedding_path=config.landmark_embedding_path, masks_path=config.masks_path,
        )

    @property
    def n_vertices(self) -> int:
        return self._n_vertices

    def landmarks(self, vertices: Tensor) -> Tensor:
        """(B, V, 3) -> (B, 68, 3), barycentric on the embedding's triangles (yaw-0 contour)."""
        if not self.has_landmarks:
            raise self._no_landmarks()
        corners = vertices[:, self.faces[self.landmark_faces]]  # (B, 68, 3, 3)
        return (corners * self.landmark_bary[None, :, :, None]).sum(2)

    def joint_rotations(self, params: HeadParams) -> Tensor:
        """(B, 5, 3, 3) local joint rotations: root and neck fixed, jaw axis-angle, both eyes from gaze."""
        batch = params.batch_size
        eye3 = torch.eye(3, dtype=params.jaw.dtype, device=params.jaw.device).expand(batch, 3, 3)
        gaze = euler_to_matrix(
            torch.stack([params.eye_gaze[:, 1], params.eye_gaze[:, 0], torch.zeros_like(params.eye_gaze[:, 0])], -1)
        )
        rotations = [eye3, eye3, axis_angle_to_matrix(params.jaw), gaze, gaze]
        return torch.stack(rotations, dim=1)

    def shaped_vertices(self, params: HeadParams) -> Tensor:
        """Template + identity + expression blendshapes, before any joint rotation: (B, V, 3)."""
        offsets = params.expression @ self.expression_basis + params.identity @ self.shape_basis
        return self.v_template + offsets.reshape(-1, self._n_vertices, 3).expand(params.batch_size, -1, -1)

    def deform(self, params: HeadParams) -> Tensor:
        return self.skin(self.shaped_vertices(params), self.joint_rotations(params))

    def skin(self, v_shaped: Tensor, rotations: Tensor) -> Tensor:
        """Pose blendshapes + linear blend skinning of (B, V, 3) with (B, J, 3, 3) local joint rotations."""
        batch = v_shaped.shape[0]
        joints = torch.einsum("jv,bvc->bjc", self.J_regressor, v_shaped)
        identity = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        pose_feature = (rotations[:, 1:] - identity).reshape(batch, -1)
        v_posed = v_shaped + (pose_feature @ self.pose_basis).reshape(batch, -1, 3)
        world_rot, world_trans = self._world_transforms(rotations, joints)
        # Each joint's transform relative to its rest pose: x -> R (x - j) + t.
        rel_trans = world_trans - (world_rot @ joints[..., None]).squeeze(-1)
        vertex_rot = torch.einsum("vj,bjmn->bvmn", self.lbs_weights, world_rot)
        vertex_trans = torch.einsum("vj,bjm->bvm", self.lbs_weights, rel_trans)
        return (vertex_rot @ v_posed[..., None]).squeeze(-1) + vertex_trans

    def _world_transforms(self, rotations: Tensor, joints: Tensor) -> tuple[Tensor, Tensor]:
        """Forward kinematics: per joint world rotation (B, J, 3, 3) and position (B, J, 3)."""
        world_rot = [rotations[:, ROOT]]
        world_trans = [joints[:, ROOT]]
        for joint in range(1, len(self.parents)):
            parent = self.parents[joint]
            offset = (joints[:, joint] - joints[:, parent])[..., None]
            world_trans.append(world_trans[parent] + (world_rot[parent] @ offset).squeeze(-1))
            world_rot.append(world_rot[parent] @ rotations[:, joint])
        return torch.stack(world_rot, 1), torch.stack(world_trans, 1)


def _validated_arrays(data: dict[str, Any], path: Path) -> dict[str, np.ndarray]:
    import scipy.sparse as sp

    required = ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f")
    missing = [k for k in required if k not in data]
    if missing:
        raise FlameFormatError(f"{path}: missing key(s) {', '.join(missing)}; is this a FLAME model pickle?")
    arrays = {}
    for key in required:
        value = data[key]
        arrays[key] = np.asarray(value.toarray() if sp.issparse(value) else value)
    v = arrays["v_template"].shape[0]
    expected = {
        "v_template": (v, 3),
        "J_regressor": (N_JOINTS, v),
        "kintree_table": (2, N_JOINTS),
        "weights": (v, N_JOINTS),
        "posedirs": (v, 3, 9 * (N_JOINTS - 1)),
    }
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise FlameFormatError(f"{path}: {key} has shape {arrays[key].shape}, expected {shape}")
    shapedirs = arrays["shapedirs"]
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (v, 3) or shapedirs.shape[2] <= FLAME_EXPRESSION_COMPONENTS:
        raise FlameFormatError(
            f"{path}: shapedirs has shape {shapedirs.shape}, expected ({v}, 3, n_shape + {FLAME_EXPRESSION_COMPONENTS})"
        )
    faces = arrays["f"]
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= v:
        raise FlameFormatError(f"{path}: f must be (F, 3) vertex indices < {v}, got shape {faces.shape}")
    parents = arrays["kintree_table"][0].astype(np.int64)
    if any(not 0 <= parents[j] < j for j in range(1, N_JOINTS)):
        raise FlameFormatError(f"{path}: kintree_table parents {parents.tolist()} are not a tree rooted at joint 0")
    return arrays


def _load_uvs(path: Path, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise AssetMissingError(f"FLAME UV file not found: {path} (FLAME_texture.npz or head_template.obj)")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "vt" not in data.files or "ft" not in data.files:
                raise FlameFormatError(f"{path}: expected keys 'vt' and 'ft', found {data.files}")
            vt, ft = data["vt"], data["ft"]
    else:
        from portraittalker.head.ict_asset import read_obj_polygons

        mesh = read_obj_polygons(path)
        if any(len(p) != 3 for p in mesh.polygon_uvs):
            raise FlameFormatError(f"{path}: expected a triangle mesh")
        vt, ft = mesh.uvs, np.array(mesh.polygon_uvs).reshape(-1, 3)
    vt, ft = np.asarray(vt, dtype=np.float32), np.asarray(ft, dtype=np.int64)
    if ft.shape != faces.shape or ft.min() < 0 or ft.max() >= len(vt) or vt.ndim != 2 or vt.shape[1] != 2:
        raise FlameFormatError(
            f"{path}: UV faces {ft.shape} / coordinates {vt.shape} do not fit the model's {len(faces)} triangles"
        )
    return vt, ft


def _load_landmark_embedding(path: Path, n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """(68,) triangle indices and (68, 3) barycentric weights, from a DECA-style embedding."""
    if not path.is_file():
        raise LandmarksUnavailableError(f"FLAME landmark embedding not found: {path}. {LANDMARK_HOW_TO_GET}.")
    data = _load_dict(path)
    if "full_lmk_faces_idx" in data:
        faces, bary = data["full_lmk_faces_idx"], data["full_lmk_bary_coords"]
    elif "static_lmk_faces_idx" in data and "dynamic_lmk_faces_idx" in data:
        # DECA indexes the 79 contours by yaw; entry 0 is the frontal (yaw 0) contour of 17 points.
        faces = np.concatenate([np.asarray(data["dynamic_lmk_faces_idx"])[0], data["static_lmk_faces_idx"]])
        bary = np.concatenate([np.asarray(data["dynamic_lmk_bary_coords"])[0], data["static_lmk_bary_coords"]])
    else:
        face_key = next((k for k in ("lmk_faces_idx", "lmk_face_idx") if k in data), None)
        bary_key = next((k for k in ("lmk_bary_coords", "lmk_b_coords") if k in data), None)
        if face_key is None or bary_key is None:
            raise FlameFormatError(
                f"{path}: no landmark embedding keys (full_lmk_faces_idx, static/dynamic_lmk_*, lmk_faces_idx) "
                f"in {sorted(data)}"
            )
        faces, bary = data[face_key], data[bary_key]
    faces = np.asarray(faces, dtype=np.int64).reshape(-1)
    bary = np.asarray(bary, dtype=np.float32).reshape(-1, 3)
    if faces.shape != (68,) or bary.shape != (68, 3) or faces.min() < 0 or faces.max() >= n_faces:
        raise FlameFormatError(
            f"{path}: expected 68 landmarks on triangles < {n_faces}, got {faces.shape} / {bary.shape}"
        )
    return faces, bary


def _load_masks(path: Path, n_vertices: int) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise AssetMissingError(f"FLAME masks file not found: {path} (FLAME_masks.pkl from the FLAME site)")
    masks = {str(k): np.asarray(v, dtype=np.int64).reshape(-1) for k, v in load_flame_pickle(path).items()}
    for name in ("lips", "face"):
        if name not in masks:
            raise FlameFormatError(f"{path}: no {name!r} mask (found {sorted(masks)})")
        if masks[name].size and masks[name].max() >= n_vertices:
            raise FlameFormatError(f"{path}: {name!r} mask refers to vertices beyond {n_vertices}")
    return masks


def _region_vertices(
    template: np.ndarray,
    weights: np.ndarray,
    vertex_component: np.ndarray,
    eye_centres: np.ndarray,
    landmarks: np.ndarray | None,
    masks: dict[str, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lip and upper-face vertex ids: official masks, else landmarks (ICT's rule), else skinning geometry.

    Without masks the face is the skin in front of a plane ``FACE_DEPTH_BEHIND_EYES_M`` behind the
    eyeball centres; the nose tip is landmark 30, or the frontmost skin vertex. Without landmarks the
    lip midline is the frontmost skin vertex where the jaw weight crosses 0.5 (upper lip follows the
    head, lower lip the jaw), and the lips are the front skin within ``FALLBACK_MOUTH_RADIUS_M`` of it.
    """
    skin = np.flatnonzero(vertex_component == 0)
    if masks is not None:
        face = np.intersect1d(masks["face"], skin)
        lips = np.intersect1d(masks["lips"], skin)
    else:
        face = skin[template[skin, 2] > eye_centres[:, 2].mean() - FACE_DEPTH_BEHIND_EYES_M]
        lips = None
    if face.size == 0:
        face = skin
    nose_tip = landmarks[30] if landmarks is not None else template[face[template[face, 2].argmax()]]
    if lips is None:
        if landmarks is not None:
            dist = np.linalg.norm(template[face, None, :] - landmarks[None, 48:68], axis=-1).min(1)
            lips = face[dist < LIP_RADIUS_M]
        else:
            jaw = weights[face, JAW]
            seam = face[np.abs(jaw - 0.5) < 0.25]
            if seam.size == 0:
                seam = face
            midline = template[seam[template[seam, 2].argmax()]]
            lips = face[np.linalg.norm(template[face] - midline, axis=-1) < FALLBACK_MOUTH_RADIUS_M]
    upper = face[template[face, 1] > nose_tip[1]]
    return np.sort(lips).astype(np.int64), np.sort(upper).astype(np.int64)
