"""Asset table/check, the npz content hash, and the ICT-FaceKit pull/convert on a synthetic FaceXModel."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from portraittalker.assets import (
    ASSET_TABLE,
    REPO_ROOT,
    AssetMissingError,
    check_assets,
    find_flame_model,
    npz_content_sha256,
    require_asset,
)
from portraittalker.head.ict_asset import (
    ICT_FACEKIT_COMMIT,
    ICT_FACEKIT_CONTENT_SHA256,
    ICT_FACEKIT_URL,
    IctChecksumError,
    IctDownloadError,
    IctFaceKitError,
    convert_facexmodel,
    pull_ict_facekit,
)

SHARED_NPZ = REPO_ROOT.parent / "shared" / "assets" / "ict_facekit_light.npz"
# 12-vertex grid (6 quads), a pentagon and a triangle: 20 vertices, 8 polygons, in two "components".
COMPONENTS = (("face", (0, 12), (0, 6)), ("teeth", (12, 20), (6, 8)))
EXPRESSIONS = ("jawOpen", "eyeBlink_L")
N_IDENTITIES = 3


def neutral_vertices() -> np.ndarray:
    grid = [[x * 1.5, y * 2.0, 10.0 + 0.1 * x] for y in range(3) for x in range(4)]
    pentagon = [[np.cos(a) + 8, np.sin(a), 5.0] for a in np.linspace(0, 2 * np.pi, 5, endpoint=False)]
    triangle = [[0.0, -3.0, 1.0], [1.0, -3.0, 1.0], [0.5, -2.0, 1.25]]
    return np.array(grid + pentagon + triangle) + 0.123456789012345


POLYGONS = [
    [r * 4 + c, r * 4 + c + 1, (r + 1) * 4 + c + 1, (r + 1) * 4 + c] for r in range(2) for c in range(3)
] + [[12, 13, 14, 15, 16], [17, 18, 19]]


def write_obj(path: Path, vertices: np.ndarray, *, with_uvs: bool = True) -> None:
    lines = ["# synthetic FaceXModel part", "mtllib ICTFaceModelMaterial.mtl", "o head"]
    lines += [f"v {x:.15f} {y:.15f} {z:.15f}" for x, y, z in vertices]
    if with_uvs:
        # One uv per vertex plus 3 extra so that uv and vertex indices differ for the triangle (a seam).
        lines += [f"vt {i / 23:.6f} {1 - i / 23:.6f}" for i in range(23)]
        lines += ["vn 0 0 1", "usemtl skin", "s off", "g face"]
        for index, poly in enumerate(POLYGONS):
            uv = [v + 3 if index == 7 else v for v in poly]
            if index % 2:  # mix the v/vt and v/vt/vn spellings
                lines.append("f " + " ".join(f"{v + 1}/{t + 1}/1" for v, t in zip(poly, uv, strict=True)))
            else:
                lines.append("f " + " ".join(f"{v + 1}/{t + 1}" for v, t in zip(poly, uv, strict=True)))
    path.write_text("\n".join(lines) + "\n")


def make_facexmodel(root: Path, seed: int = 0) -> tuple[Path, dict[str, np.ndarray]]:
    """A FaceXModel folder laid out like upstream's (generic_neutral_mesh.obj, per-shape objs, json)."""
    rng = np.random.default_rng(seed)
    folder = root / "FaceXModel"
    folder.mkdir(parents=True)
    neutral = neutral_vertices()
    write_obj(folder / "generic_neutral_mesh.obj", neutral)
    offsets = {}
    for name in [*EXPRESSIONS, *(f"identity{i:03d}" for i in range(N_IDENTITIES))]:
        offsets[name] = rng.normal(0, 0.3, neutral.shape)
        write_obj(folder / f"{name}.obj", neutral + offsets[name], with_uvs=False)
    write_obj(folder / "identity005.obj", neutral)  # after a gap: not part of the model (as upstream)
    config = {
        "expressions": list(EXPRESSIONS),
        "fitting_expressions": list(EXPRESSIONS),
        "incompatibilities": [],
        "idx_to_fitting_verts": [3, 1, 2, 0, 5],
        "idx_to_rigid_verts": [8, 9],
        "idx_to_landmark_verts": [i % 20 for i in range(68)],
        "idx_to_rigid_landmark_idx": [0, 36, 39, 42, 45, 16, 28, 31, 35],
    }
    (folder / "vertex_indices.json").write_text(json.dumps(config, indent=4))
    (root / "LICENSE").write_text("MIT License\n\nsynthetic test copy\n")
    return folder, offsets


def test_converter_writes_the_shared_npz_layout(tmp_path: Path) -> None:
    folder, offsets = make_facexmodel(tmp_path)
    arrays = convert_facexmodel(folder, components=COMPONENTS, source="test")
    with np.load(SHARED_NPZ) as shared:
        assert list(arrays) == list(shared.files)  # same keys, same order
        for key in shared.files:
            ref = shared[key]
            assert arrays[key].dtype.kind == ref.dtype.kind and arrays[key].ndim == ref.ndim, key
            if ref.dtype.kind != "U":
                assert arrays[key].dtype == ref.dtype, key

    # Fan triangulation: quad (a, b, c, d) -> (a, b, c), (a, c, d); the pentagon gives three triangles.
    assert arrays["triangles"].shape == (6 * 2 + 3 + 1, 3)
    a, b, c, d = POLYGONS[0]
    assert arrays["triangles"][:2].tolist() == [[a, b, c], [a, c, d]]
    assert arrays["triangles"][12:15].tolist() == [[12, 13, 14], [12, 14, 15], [12, 15, 16]]
    assert arrays["triangle_polygon"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6, 7]
    assert arrays["triangle_uvs"][-1].tolist() == [20, 21, 22]  # uv indices are kept apart from vertex ones
    assert arrays["uvs"].shape == (23, 2)

    np.testing.assert_allclose(arrays["neutral_vertices"], neutral_vertices(), rtol=1e-6)
    for i, name in enumerate(EXPRESSIONS):
        np.testing.assert_allclose(arrays["expression_deltas"][i], offsets[name], atol=2e-3)
    assert arrays["identity_names"].tolist() == ["identity000", "identity001", "identity002"]
    np.testing.assert_allclose(arrays["identity_deltas"][2], offsets["identity002"], atol=2e-3)
    assert arrays["expression_names"].tolist() == list(EXPRESSIONS)
    assert arrays["landmarks68"].shape == (68,) and arrays["fitting_vertices"].tolist() == [3, 1, 2, 0, 5]
    assert arrays["component_vertex_ranges"].tolist() == [[0, 12], [12, 20]]
    assert arrays["component_polygon_ranges"].tolist() == [[0, 6], [6, 8]]
    assert str(arrays["source"]) == "test" and str(arrays["license"]).startswith("MIT License")


def test_converter_rejects_broken_folders(tmp_path: Path) -> None:
    folder, _ = make_facexmodel(tmp_path)
    with pytest.raises(IctFaceKitError, match=r"26719 / 26384.*this is not the ICT-FaceKit"):
        convert_facexmodel(folder)  # the real component table does not fit a 20-vertex mesh
    (folder / "jawOpen.obj").write_text("v 0 0 0\n")
    with pytest.raises(IctFaceKitError, match=r"jawOpen\.obj: 1 vertices"):
        convert_facexmodel(folder, components=COMPONENTS)
    (folder / "jawOpen.obj").unlink()
    with pytest.raises(IctFaceKitError, match=r"jawOpen\.obj \(listed in vertex_indices\.json\) is missing"):
        convert_facexmodel(folder, components=COMPONENTS)
    (folder / "vertex_indices.json").unlink()
    with pytest.raises(IctFaceKitError, match=r"vertex_indices\.json is missing"):
        convert_facexmodel(folder, components=COMPONENTS)


def make_codeload_zip(tmp_path: Path) -> Path:
    """A zip laid out like GitHub codeload's: ICT-FaceKit-<commit>/{LICENSE, FaceXModel/...}."""
    root = tmp_path / "src" / f"ICT-FaceKit-{ICT_FACEKIT_COMMIT}"
    make_facexmodel(root)
    archive = tmp_path / "ict.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(root.rglob("*")):
            zipped.write(path, path.relative_to(root.parent).as_posix())
    return archive


def test_pull_from_zip_folder_and_url_verifies_and_writes_atomically(tmp_path: Path) -> None:
    archive = make_codeload_zip(tmp_path)
    dest = tmp_path / "cache"
    written = pull_ict_facekit(dest, source_path=archive, expected_sha256=None, components=COMPONENTS, progress=False)
    assert written == dest / "ict_facekit_light.npz"
    assert [p.name for p in dest.iterdir()] == ["ict_facekit_light.npz"]  # no temporary files left behind
    digest = npz_content_sha256(written)
    with np.load(written) as data:
        assert str(data["license"]) == "MIT License\n\nsynthetic test copy\n"

    # The same content, pinned, from the unpacked folder and through the download path (file:// URL).
    folder = tmp_path / "src" / f"ICT-FaceKit-{ICT_FACEKIT_COMMIT}"
    again = pull_ict_facekit(tmp_path / "c2", source_path=folder, expected_sha256=digest, components=COMPONENTS,
                             progress=False)
    assert npz_content_sha256(again) == digest
    fetched = pull_ict_facekit(tmp_path / "c3", source_url=archive.as_uri(), expected_sha256=digest,
                               components=COMPONENTS, progress=True)
    assert npz_content_sha256(fetched) == digest

    with pytest.raises(IctChecksumError, match=r"expected_sha256=None"):
        pull_ict_facekit(tmp_path / "c4", source_path=archive, expected_sha256="0" * 64, components=COMPONENTS,
                         progress=False)
    assert not (tmp_path / "c4" / "ict_facekit_light.npz").exists()
    with pytest.raises(IctFaceKitError, match=r"--from .*nope\.zip: no such file"):
        pull_ict_facekit(tmp_path / "c5", source_path=tmp_path / "nope.zip", progress=False)


def test_download_failure_names_the_url_and_the_offline_alternative(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/ICT-FaceKit.zip"  # discard port: the connection is refused at once
    with pytest.raises(IctDownloadError) as caught:
        pull_ict_facekit(tmp_path, source_url=url, progress=False)
    message = str(caught.value)
    assert url in message and "--from PATH" in message and ICT_FACEKIT_COMMIT in message
    assert not any(tmp_path.iterdir())
    assert f"https://codeload.github.com/ICT-VGL/ICT-FaceKit/zip/{ICT_FACEKIT_COMMIT}" == ICT_FACEKIT_URL


def test_pinned_digest_is_that_of_the_shared_npz() -> None:
    with np.load(SHARED_NPZ) as data:
        assert ICT_FACEKIT_COMMIT in str(data["source"])
    assert npz_content_sha256(SHARED_NPZ) == ICT_FACEKIT_CONTENT_SHA256


def test_content_hash_ignores_order_and_provenance_but_not_data() -> None:
    arrays = {"b": np.arange(6, dtype=np.int32).reshape(2, 3), "a": np.array(["x", "yz"]), "license": np.array("L")}
    digest = npz_content_sha256(arrays)
    reordered = {"license": np.array("other"), "a": arrays["a"], "b": np.asfortranarray(arrays["b"])}
    assert npz_content_sha256(reordered) == digest
    assert npz_content_sha256({**arrays, "b": arrays["b"].reshape(3, 2)}) != digest  # shape counts
    assert npz_content_sha256({**arrays, "b": arrays["b"].astype(np.int64)}) != digest  # dtype counts
    changed = arrays["b"].copy()
    changed[1, 2] = 99
    assert npz_content_sha256({**arrays, "b": changed}) != digest


def test_check_assets_reports_every_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PORTRAITTALKER_ASSETS", str(assets))
    for entry in ASSET_TABLE:
        if entry.env:
            monkeypatch.delenv(entry.env, raising=False)
    (assets / "syncnet_v2.model").write_bytes(b"weights")
    (assets / "stable-diffusion").mkdir()
    (assets / "stable-diffusion" / "model_index.json").write_text("{}")
    clip = tmp_path / "clip-download"
    clip.mkdir()  # incomplete: no config.json yet
    monkeypatch.setenv("PORTRAITTALKER_CLIP", str(clip))

    statuses = {s.name: s for s in check_assets()}
    assert set(statuses) == {"ict-facekit", "flame", "stable-diffusion", "speech-encoder", "syncnet", "s3fd",
                             "inception", "clip"}
    assert [n for n, s in statuses.items() if s.required] == ["ict-facekit"]
    assert statuses["ict-facekit"].present == SHARED_NPZ.is_file()
    assert statuses["syncnet"].present and statuses["syncnet"].path == assets / "syncnet_v2.model"
    assert not statuses["s3fd"].present and "sfd_face.pth" in statuses["s3fd"].how_to_get
    assert statuses["stable-diffusion"].present
    assert not statuses["clip"].present and statuses["clip"].path is None
    assert not statuses["inception"].present and "pt_inception-2015-12-05-6726825d.pth" in statuses[
        "inception"].how_to_get
    assert all("http" in s.how_to_get or "portraittalker assets pull" in s.how_to_get for s in statuses.values())
    (clip / "config.json").write_text("{}")
    assert require_asset("clip") == clip
    with pytest.raises(AssetMissingError, match=r"PORTRAITTALKER_INCEPTION.*mseitzer/pytorch-fid"):
        require_asset("inception")


def test_flame_is_found_by_env_file_or_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PORTRAITTALKER_ASSETS", str(tmp_path / "none"))
    model = tmp_path / "models" / "flame2023.pkl"
    model.parent.mkdir()
    model.write_bytes(b"x")
    monkeypatch.setenv("PORTRAITTALKER_FLAME", str(model))
    assert find_flame_model() == model
    monkeypatch.setenv("PORTRAITTALKER_FLAME", str(model.parent))
    assert find_flame_model() == model
    monkeypatch.setenv("PORTRAITTALKER_FLAME", str(tmp_path / "missing.pkl"))
    with pytest.raises(AssetMissingError, match=r"PORTRAITTALKER_FLAME=.*missing\.pkl.*flame\.is\.tue\.mpg\.de"):
        find_flame_model()
