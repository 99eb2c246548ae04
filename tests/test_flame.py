"""FLAME loader and LBS, on a tiny synthetic model pickled the way the official files are (chumpy inside)."""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.spatial.transform import Rotation

from portraittalker.assets import REPO_ROOT, AssetMissingError
from portraittalker.head import load_head_model
from portraittalker.head.base import HeadParams, euler_to_matrix
from portraittalker.head.flame import (
    FLAME,
    FlameFormatError,
    LandmarksUnavailableError,
    axis_angle_to_matrix,
    load_flame_pickle,
)

N_SHAPE_TOTAL, N_EXPR_TOTAL = 300, 100
EYE_RADIUS = 0.012
# Joint 3 on the subject's right (-X), joint 4 on the left: the loader must tell them apart by position.
EYE_CENTRES = np.array([[-0.032, 0.03, 0.075], [0.032, 0.03, 0.075]])


@contextlib.contextmanager
def fake_modules(**classes: type) -> Iterator[None]:
    """Temporarily install modules so that pickle records the given classes under those module paths."""
    saved = {name: sys.modules.get(name) for name in classes}
    try:
        for module_path, cls in classes.items():
            module = types.ModuleType(module_path)
            setattr(module, cls.__name__, cls)
            cls.__module__, cls.__qualname__ = module_path, cls.__name__
            sys.modules[module_path] = module
        if "chumpy.ch" in classes:
            sys.modules.setdefault("chumpy", types.ModuleType("chumpy"))
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        if "chumpy.ch" in classes and saved.get("chumpy") is None:
            sys.modules.pop("chumpy", None)


class Ch:
    """Mimics chumpy.ch.Ch's pickled state: a __dict__ with the value under 'x' plus bookkeeping."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self._dirty_vars: set[str] = set()
        self._itr = None
        self._depends_on_deps: dict = {}
        self._make_dense = False
        self._make_sparse = False


class csc_matrix:  # noqa: N801 - the name old scipy pickled under
    """Mimics an old scipy (``scipy.sparse.csc``) csc_matrix's pickled __dict__."""

    def __init__(self, dense: np.ndarray) -> None:
        real = sp.csc_matrix(dense)
        self._shape = real.shape
        self.data, self.indices, self.indptr = real.data, real.indices, real.indptr
        self.format, self.maxprint = "csc", 50


def uv_sphere(radius: float, n_lat: int, n_lon: int, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poles + rings; triangles wound outwards."""
    verts = [[0.0, radius, 0.0]]
    for i in range(1, n_lat):
        theta = np.pi * i / n_lat
        for j in range(n_lon):
            phi = 2 * np.pi * j / n_lon
            ring_radius = radius * np.sin(theta)
            verts.append([ring_radius * np.sin(phi), radius * np.cos(theta), ring_radius * np.cos(phi)])
    verts.append([0.0, -radius, 0.0])
    faces = []
    ring = lambda i, j: 1 + (i - 1) * n_lon + (j % n_lon)  # noqa: E731
    for j in range(n_lon):
        faces.append([0, ring(1, j), ring(1, j + 1)])
        faces.append([len(verts) - 1, ring(n_lat - 1, j + 1), ring(n_lat - 1, j)])
    for i in range(1, n_lat - 1):
        for j in range(n_lon):
            faces.append([ring(i, j), ring(i + 1, j), ring(i + 1, j + 1)])
            faces.append([ring(i, j), ring(i + 1, j + 1), ring(i, j + 1)])
    return np.array(verts) + centre, np.array(faces)


def synthetic_flame(seed: int = 0) -> dict:
    """A ~330-vertex FLAME-format model: head sphere + two eyeballs, 5 joints, random blendshapes."""
    rng = np.random.default_rng(seed)
    head_v, head_f = uv_sphere(0.1, 12, 20, np.zeros(3))
    parts_v, parts_f, offset = [head_v], [head_f], len(head_v)
    for centre in EYE_CENTRES:
        ev, ef = uv_sphere(EYE_RADIUS, 4, 6, centre)
        parts_v.append(ev)
        parts_f.append(ef + offset)
        offset += len(ev)
    v_template = np.concatenate(parts_v)
    faces = np.concatenate(parts_f).astype(np.uint32)
    n_v, n_head = len(v_template), len(head_v)
    eye_ids = [np.arange(n_head, n_head + len(parts_v[1])), np.arange(n_head + len(parts_v[1]), n_v)]

    # Regressor rows are averages of vertex sets, so joints lie on the head's axis / at the eye centres.
    y = v_template[:, 1]
    rows = np.zeros((5, n_v))
    rows[0, :n_head] = 1
    rows[1, np.flatnonzero((y < -0.07) & (np.arange(n_v) < n_head))] = 1
    rows[2, np.flatnonzero((np.abs(y + 0.02) < 0.012) & (np.arange(n_v) < n_head))] = 1
    rows[3, eye_ids[0]] = 1
    rows[4, eye_ids[1]] = 1
    j_regressor = rows / rows.sum(1, keepdims=True)

    weights = np.zeros((n_v, 5))
    head = v_template[:n_head]
    jaw = 1 / (1 + np.exp(-(-0.02 - head[:, 1]) / 0.01)) * (head[:, 2] > 0)  # lower front -> jaw
    neck = np.clip((-0.06 - head[:, 1]) / 0.03, 0, 1)
    weights[:n_head, 2] = jaw * (1 - neck)
    weights[:n_head, 1] = neck
    weights[:n_head, 0] = 1 - weights[:n_head, 1] - weights[:n_head, 2]
    weights[eye_ids[0], 3] = 1
    weights[eye_ids[1], 4] = 1

    return {
        "v_template": v_template,
        "f": faces,
        "shapedirs": rng.normal(0, 1e-3, (n_v, 3, N_SHAPE_TOTAL + N_EXPR_TOTAL)),
        "posedirs": rng.normal(0, 1e-3, (n_v, 3, 36)),
        "J_regressor": j_regressor,
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32),
        "weights": weights,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_flame_pickle(path: Path, model: dict, *, modern_sparse: bool = False) -> Path:
    """Pickle like the official files: chumpy Ch arrays, an old-scipy csc J_regressor, protocol 2."""
    contents = dict(model)
    with fake_modules(**{"chumpy.ch": Ch, "scipy.sparse.csc": csc_matrix}):
        contents["shapedirs"] = Ch(model["shapedirs"])
        contents["v_template"] = Ch(model["v_template"])
        contents["J_regressor"] = (
            sp.csc_matrix(model["J_regressor"]) if modern_sparse else csc_matrix(model["J_regressor"])
        )
        path.write_bytes(pickle.dumps(contents, protocol=2))
    assert "chumpy" not in sys.modules and "chumpy.ch" not in sys.modules
    return path


@pytest.fixture(scope="module")
def flame_model() -> dict:
    return synthetic_flame()


@pytest.fixture(scope="module")
def flame_path(tmp_path_factory: pytest.TempPathFactory, flame_model: dict) -> Path:
    return write_flame_pickle(tmp_path_factory.mktemp("flame") / "generic_model.pkl", flame_model)


@pytest.fixture(scope="module")
def flame(flame_path: Path) -> FLAME:
    return FLAME(flame_path, n_shape=20, n_expression=10)


def random_params(model: FLAME, batch: int, seed: int = 1) -> HeadParams:
    g = torch.Generator().manual_seed(seed)
    params = model.neutral_params(batch)
    params.identity = torch.randn(1, model.n_identity, generator=g)
    params.expression = torch.randn(batch, model.n_expression, generator=g)
    params.jaw = torch.randn(batch, 3, generator=g) * 0.2
    params.eye_gaze = torch.randn(batch, 2, generator=g) * 0.3
    return params


def reference_flame(model: dict, shape: np.ndarray, expr: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Straightforward per-vertex FLAME: blendshapes, joints, pose blendshapes, LBS. pose: (5, 3) axis-angles."""
    v_shaped = (
        model["v_template"]
        + model["shapedirs"][:, :, : len(shape)] @ shape
        + model["shapedirs"][:, :, N_SHAPE_TOTAL : N_SHAPE_TOTAL + len(expr)] @ expr
    )
    joints = model["J_regressor"] @ v_shaped
    rot = [Rotation.from_rotvec(p).as_matrix() for p in pose]
    feature = np.concatenate([(r - np.eye(3)).ravel() for r in rot[1:]])
    v_posed = v_shaped + model["posedirs"] @ feature
    parents = [-1, 0, 1, 1, 1]
    world = []
    for j in range(5):
        local = np.eye(4)
        local[:3, :3] = rot[j]
        local[:3, 3] = joints[j] - (joints[parents[j]] if j else 0)
        world.append(local if j == 0 else world[parents[j]] @ local)
    relative = []
    for j in range(5):
        a = world[j].copy()
        a[:3, 3] -= a[:3, :3] @ joints[j]
        relative.append(a)
    out = np.empty_like(v_posed)
    for v in range(len(v_posed)):
        blended = sum(model["weights"][v, j] * relative[j] for j in range(5))
        out[v] = blended[:3, :3] @ v_posed[v] + blended[:3, 3]
    return out


def test_loads_without_chumpy_and_registers_buffers(flame: FLAME, flame_model: dict) -> None:
    assert "chumpy" not in sys.modules
    n_v, n_f = len(flame_model["v_template"]), len(flame_model["f"])
    assert flame.n_vertices == n_v and flame.n_identity == 20
    assert flame.expression_names[:2] == ["exp000", "exp001"] and flame.n_expression == 10
    assert flame.faces.shape == (n_f, 3) and flame.faces.dtype == torch.long
    assert flame.face_uvs.shape == (n_f, 3) and flame.uvs.shape[1] == 2
    assert flame.triangle_component.shape == (n_f,) and bool(flame.render_faces.all())
    assert flame.component_names == ["head", "eyeball_left", "eyeball_right"]
    # The eyeball on +X (joint 4 here) is the subject's left one.
    left_tris = flame.faces[flame.triangle_component == 1]
    assert float(flame.v_template[left_tris.unique(), 0].mean()) > 0.02
    neck = flame_model["J_regressor"][1] @ flame_model["v_template"]
    torch.testing.assert_close(flame.pivot, torch.tensor(neck, dtype=torch.float32))
    assert flame.lip_vertices.numel() > 0 and flame.upper_face_vertices.numel() > 0


def test_pickle_contents_round_trip(flame_path: Path, flame_model: dict) -> None:
    data = load_flame_pickle(flame_path)
    np.testing.assert_array_equal(data["shapedirs"], flame_model["shapedirs"])
    assert sp.issparse(data["J_regressor"])
    np.testing.assert_allclose(data["J_regressor"].toarray(), flame_model["J_regressor"])
    assert data["bs_style"] == "lbs"


def test_zero_params_give_template(flame: FLAME, flame_model: dict) -> None:
    out = flame(flame.neutral_params(2))
    expected = torch.tensor(flame_model["v_template"], dtype=torch.float32).expand(2, -1, -1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_matches_per_vertex_reference(flame: FLAME, flame_model: dict) -> None:
    params = random_params(flame, batch=2)
    out = flame.deform(params).double().numpy()
    for b in range(2):
        yaw, pitch = params.eye_gaze[b].double().numpy()
        gaze = Rotation.from_matrix(euler_to_matrix(torch.tensor([pitch, yaw, 0.0])).numpy()).as_rotvec()
        pose = np.stack([np.zeros(3), np.zeros(3), params.jaw[b].double().numpy(), gaze, gaze])
        expected = reference_flame(
            flame_model, params.identity[0].double().numpy(), params.expression[b].double().numpy(), pose
        )
        np.testing.assert_allclose(out[b], expected, atol=2e-6)


def test_root_rotation_rotates_the_whole_mesh_rigidly(flame: FLAME) -> None:
    params = flame.neutral_params(1)
    v_shaped = flame.shaped_vertices(params)
    rotations = flame.joint_rotations(params).clone()
    root = axis_angle_to_matrix(torch.tensor([[0.3, -0.5, 0.2]]))
    rotations[:, 0] = root
    joint0 = flame.J_regressor[0] @ v_shaped[0]
    expected = (v_shaped - joint0) @ root.transpose(-1, -2) + joint0
    torch.testing.assert_close(flame.skin(v_shaped, rotations), expected, atol=1e-6, rtol=0)


def test_jaw_moves_only_jaw_weighted_vertices(flame: FLAME) -> None:
    params = flame.neutral_params(1)
    params.jaw = torch.tensor([[0.25, 0.05, 0.0]])
    rotations = flame.joint_rotations(params)
    pose_offsets = ((rotations[:, 1:] - torch.eye(3)).reshape(1, -1) @ flame.pose_basis).reshape(-1, 3)
    rigid_motion = (flame(params)[0] - flame.v_template - pose_offsets).norm(dim=-1)
    jaw_weight = flame.lbs_weights[:, 2]
    assert float(rigid_motion[jaw_weight == 0].max()) < 1e-6
    assert float(rigid_motion[jaw_weight > 0.5].min()) > 1e-3
    # Jaw-only vertices follow the jaw joint rigidly; positive jaw x opens (the chin goes down).
    jaw_joint = flame.J_regressor[2] @ flame.v_template
    expected = (flame.v_template + pose_offsets - jaw_joint) @ rotations[0, 2].T + jaw_joint
    blended = jaw_weight[:, None] * expected + (1 - jaw_weight[:, None]) * (flame.v_template + pose_offsets)
    head = flame.triangle_component.new_zeros(flame.n_vertices, dtype=torch.bool)
    head[flame.faces[flame.triangle_component == 0].unique()] = True
    torch.testing.assert_close(flame(params)[0, head], blended[head], atol=1e-6, rtol=0)
    chin = int(torch.argmin(flame.v_template[:, 1] - 10 * (jaw_weight > 0.9).float()))
    assert float((flame(params) - flame.v_template)[0, chin, 1]) < 0


def test_gaze_follows_the_shared_convention(flame: FLAME) -> None:
    eye = flame.triangle_component == 1
    front = int(flame.faces[eye].unique()[flame.v_template[flame.faces[eye].unique(), 2].argmax()])
    for gaze, axis, sign in (([0.3, 0.0], 0, 1), ([0.0, 0.3], 1, -1)):  # +yaw looks to +X, +pitch looks down
        params = flame.neutral_params(1)
        params.eye_gaze = torch.tensor([gaze])
        delta = flame(params)[0, front] - flame.v_template[front]
        assert sign * float(delta[axis]) > 0.002


def test_eye_blink_has_no_effect(flame: FLAME) -> None:
    params = flame.neutral_params(1)
    params.eye_blink = torch.ones(1, 2)
    torch.testing.assert_close(flame(params), flame(flame.neutral_params(1)))


def test_batched_equals_one_by_one_and_head_pose_is_applied(flame: FLAME) -> None:
    params = random_params(flame, batch=3, seed=4)
    params.head_rotation = torch.randn(3, 3) * 0.2
    params.head_translation = torch.randn(3, 3) * 0.01
    batched = flame(params)
    for b in range(3):
        single = HeadParams(**{k: (v if k == "identity" else v[b : b + 1]) for k, v in vars(params).items()})
        torch.testing.assert_close(batched[b : b + 1], flame(single), atol=1e-6, rtol=0)
    rotation = euler_to_matrix(params.head_rotation)
    expected = (flame.deform(params) - flame.pivot) @ rotation.transpose(-1, -2) + flame.pivot
    torch.testing.assert_close(batched, expected + params.head_translation[:, None], atol=1e-6, rtol=0)


def test_gradients_flow_to_every_driven_parameter(flame: FLAME) -> None:
    params = random_params(flame, batch=2)
    for name in ("identity", "expression", "jaw", "head_rotation", "head_translation", "eye_gaze"):
        getattr(params, name).requires_grad_(True)
    loss = (flame(params) - flame.v_template).square().sum()
    loss.backward()
    for name in ("identity", "expression", "jaw", "head_rotation", "head_translation", "eye_gaze"):
        grad = getattr(params, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    zero = torch.zeros(1, 3, requires_grad=True)
    axis_angle_to_matrix(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_missing_file_names_the_file_and_the_flame_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AssetMissingError, match=r"generic_model\.pkl.*flame\.is\.tue\.mpg\.de"):
        FLAME(tmp_path / "generic_model.pkl")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PORTRAITTALKER_ASSETS", str(tmp_path))
    monkeypatch.delenv("PORTRAITTALKER_FLAME", raising=False)
    monkeypatch.chdir(tmp_path)
    shared = REPO_ROOT.parent / "shared" / "assets"
    if any((shared / n).exists() for n in ("generic_model.pkl", "flame2023.pkl", "flame")):
        pytest.skip("a FLAME model is installed in ../shared/assets")
    with pytest.raises(AssetMissingError, match=r"flame2023\.pkl, generic_model\.pkl.*register at https://flame"):
        FLAME()


def test_load_head_model_by_name_and_env(flame_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_head_model("flame", flame_path)
    assert isinstance(model, FLAME) and model.n_identity == 100 and model.n_expression == 50
    monkeypatch.setenv("PORTRAITTALKER_FLAME", str(flame_path.parent))
    assert FLAME(n_shape=5, n_expression=5).source_path == flame_path


def test_modern_scipy_sparse_and_too_many_components(tmp_path: Path, flame_model: dict) -> None:
    path = write_flame_pickle(tmp_path / "flame2023.pkl", flame_model, modern_sparse=True)
    model = FLAME(path, n_shape=3, n_expression=3)
    torch.testing.assert_close(model.J_regressor, torch.tensor(flame_model["J_regressor"], dtype=torch.float32))
    with pytest.raises(ValueError, match="n_shape=301"):
        FLAME(path, n_shape=301)


def test_unsafe_or_unsupported_pickles_are_refused(tmp_path: Path, flame_model: dict) -> None:
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"v_template": os.getcwd}, protocol=2))  # a callable global, not data
    with pytest.raises(FlameFormatError, match=r"refusing to unpickle.*getcwd"):
        load_flame_pickle(evil)

    class Select(Ch):  # a derived chumpy expression (e.g. chumpy.reordering.Select) has no plain 'x' value
        def __init__(self) -> None:
            self.a, self.idxs = Ch(np.zeros(3)), np.arange(2)

    derived = tmp_path / "derived.pkl"
    with fake_modules(**{"chumpy.ch": Ch, "chumpy.reordering": Select}):
        derived.write_bytes(pickle.dumps({"shapedirs": Select()}, protocol=2))
    with pytest.raises(FlameFormatError, match=r"chumpy\.reordering\.Select"):
        load_flame_pickle(derived)

    broken = {k: v for k, v in flame_model.items() if k != "posedirs"}
    with pytest.raises(FlameFormatError, match=r"missing key.*posedirs"):
        FLAME(write_flame_pickle(tmp_path / "broken.pkl", broken))
    (tmp_path / "garbage.pkl").write_bytes(b"not a pickle")
    with pytest.raises(FlameFormatError, match=r"garbage\.pkl"):
        FLAME(tmp_path / "garbage.pkl")


def deca_style_embedding(n_faces: int, seed: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    bary = rng.dirichlet(np.ones(3), size=(79 * 17 + 51))
    return {
        "static_lmk_faces_idx": rng.integers(0, n_faces, 51),
        "static_lmk_bary_coords": bary[:51],
        "dynamic_lmk_faces_idx": rng.integers(0, n_faces, (79, 17)),
        "dynamic_lmk_bary_coords": bary[51:].reshape(79, 17, 3),
    }


def test_landmarks_from_a_deca_embedding(tmp_path: Path, flame_path: Path, flame: FLAME) -> None:
    embedding = deca_style_embedding(len(flame.faces))
    # As in DECA's file, the dynamic (per-yaw contour) entries are torch tensors inside the pickled dict.
    stored = {k: torch.from_numpy(v) if k.startswith("dynamic") else v for k, v in embedding.items()}
    np.save(tmp_path / "landmark_embedding.npy", stored, allow_pickle=True)
    model = FLAME(flame_path, 5, 5, landmark_embedding_path=tmp_path / "landmark_embedding.npy")
    assert model.has_landmarks and model.landmarks68.shape == (68,)
    params = random_params(model, batch=2)
    vertices = model(params)
    landmarks = model.landmarks(vertices)
    faces = np.concatenate([embedding["dynamic_lmk_faces_idx"][0], embedding["static_lmk_faces_idx"]])
    bary = np.concatenate([embedding["dynamic_lmk_bary_coords"][0], embedding["static_lmk_bary_coords"]])
    corners = vertices[:, model.faces[torch.from_numpy(faces)]]
    expected = (corners * torch.tensor(bary, dtype=torch.float32)[None, :, :, None]).sum(2)
    torch.testing.assert_close(landmarks, expected)
    # The nearest-vertex ids are corners of the landmark triangles.
    assert all(int(model.landmarks68[i]) in model.faces[faces[i]].tolist() for i in range(68))


def test_without_embedding_landmarks_raise_a_clear_error(flame: FLAME) -> None:
    assert not flame.has_landmarks
    with pytest.raises(LandmarksUnavailableError, match=r"landmark_embedding\.npy"):
        flame.landmarks(flame(flame.neutral_params(1)))
    with pytest.raises(LandmarksUnavailableError, match=r"landmark_embedding\.npy"):
        _ = flame.landmarks68
    assert "landmarks68" not in dict(flame.named_buffers())
    flame.to("cpu")  # moving the module must not trip over the missing buffer


def test_uvs_cylindrical_fallback_and_texture_file(tmp_path: Path, flame_model: dict, flame: FLAME) -> None:
    assert flame.uvs.shape == (flame.n_vertices, 2) and "cylindrical" in flame.uv_source
    assert float(flame.uvs.min()) >= 0 and float(flame.uvs.max()) <= 1
    torch.testing.assert_close(flame.face_uvs, flame.faces)
    folder = tmp_path / "with_texture"
    folder.mkdir()
    path = write_flame_pickle(folder / "generic_model.pkl", flame_model)
    vt = np.random.default_rng(0).random((flame.n_vertices + 7, 2))
    ft = flame_model["f"].astype(np.int64) + 7
    np.savez(folder / "FLAME_texture.npz", vt=vt, ft=ft)
    textured = FLAME(path, 5, 5)  # found next to the model
    assert textured.uv_source.endswith("FLAME_texture.npz")
    torch.testing.assert_close(textured.uvs, torch.tensor(vt, dtype=torch.float32))
    np.savez(folder / "bad.npz", vt=vt, ft=ft[:-1])
    with pytest.raises(FlameFormatError, match=r"bad\.npz"):
        FLAME(path, 5, 5, uv_path=folder / "bad.npz")


def test_regions_from_masks_file(tmp_path: Path, flame_path: Path, flame: FLAME) -> None:
    lips, face = np.array([5, 9, 40]), np.arange(0, 200)
    (tmp_path / "FLAME_masks.pkl").write_bytes(pickle.dumps({"lips": lips, "face": face}, protocol=2))
    model = FLAME(flame_path, 5, 5, masks_path=tmp_path / "FLAME_masks.pkl")
    assert model.lip_vertices.tolist() == lips.tolist()
    assert set(model.upper_face_vertices.tolist()) <= set(face.tolist())
    # Fallback regions (no masks, no landmarks): lips straddle the jaw seam at the front.
    lip_weights = flame.lbs_weights[flame.lip_vertices, 2]
    assert float(lip_weights.min()) < 0.5 < float(lip_weights.max())
    assert float(flame.v_template[flame.lip_vertices, 2].min()) > 0
