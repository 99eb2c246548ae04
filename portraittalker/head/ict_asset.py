"""`portraittalker assets pull ict-facekit`: fetch ICT-FaceKit and convert ``FaceXModel/`` to our npz.

The npz layout is the one documented in ``../shared/README.md`` (units cm, +Y up, +Z to the viewer):
upstream quads/polygons are fan-triangulated (``(p0, p_i, p_i+1)``), every triangle remembers its
polygon, blendshape and identity deltas are ``target - neutral`` computed in float64 and stored as
float16. Component ranges are not in any upstream data file, only in upstream's README table, so they
are pinned here (:data:`ICT_COMPONENTS`) and checked against the mesh.

The result is verified with :func:`portraittalker.assets.npz_content_sha256` against
:data:`ICT_FACEKIT_CONTENT_SHA256`, the digest of the developers' copy in ``../shared/assets``.
"""

from __future__ import annotations

import json
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from portraittalker.assets import ICT_FACEKIT, npz_content_sha256
from portraittalker.errors import PortraitTalkerError
from portraittalker.media.files import atomic_path

ICT_FACEKIT_COMMIT = "da5f95a607f5e6b37755b38d3385d7f2853732e5"
ICT_FACEKIT_URL = f"https://codeload.github.com/ICT-VGL/ICT-FaceKit/zip/{ICT_FACEKIT_COMMIT}"
# npz_content_sha256(../shared/assets/ict_facekit_light.npz), converted from the commit above.
ICT_FACEKIT_CONTENT_SHA256 = "8da3b0a5fa1e95bcd902e7a1e53c74204ddccfdb97148804923344a3f5736be5"
DEFAULT_DEST = Path("~/.cache/portraittalker")
DOWNLOAD_TIMEOUT_S = 60.0

# (name, [vertex start, end), [polygon start, end)) from upstream README's "Face Model Topology" table.
ICT_COMPONENTS: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("face", (0, 9409), (0, 9230)),
    ("head_neck", (9409, 11248), (9230, 11144)),
    ("mouth_socket", (11248, 13294), (11144, 13226)),
    ("eye_socket_left", (13294, 13678), (13226, 13630)),
    ("eye_socket_right", (13678, 14062), (13630, 14034)),
    ("gums_tongue", (14062, 17039), (14034, 17006)),
    ("teeth", (17039, 21451), (17006, 21496)),
    ("eyeball_left", (21451, 23021), (21496, 23094)),
    ("eyeball_right", (23021, 24591), (23094, 24692)),
    ("lacrimal_fluid_left", (24591, 24795), (24692, 24855)),
    ("lacrimal_fluid_right", (24795, 24999), (24855, 25018)),
    ("eye_blend_left", (24999, 25023), (25018, 25033)),
    ("eye_blend_right", (25023, 25047), (25033, 25048)),
    ("eye_occlusion_left", (25047, 25199), (25048, 25176)),
    ("eye_occlusion_right", (25199, 25351), (25176, 25304)),
    ("eyelashes_left", (25351, 26035), (25304, 25844)),
    ("eyelashes_right", (26035, 26719), (25844, 26384)),
)
Components = tuple[tuple[str, tuple[int, int], tuple[int, int]], ...]

# Used only when the source has no LICENSE file (e.g. `--from` a bare FaceXModel folder); upstream's text.
ICT_LICENSE = """MIT License

Copyright (c) 2020 USC Institute for Creative Technologies

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

_IDENTITY_FILE = re.compile(r"identity(\d{3})\.obj$")


class IctFaceKitError(PortraitTalkerError, RuntimeError):
    """Pulling or converting ICT-FaceKit failed; the message names the input and the problem."""


class IctDownloadError(IctFaceKitError):
    """The download failed; the message gives the URL and the offline alternative (``--from``)."""


class IctChecksumError(IctFaceKitError):
    """The converted model's content does not match the pinned digest."""


@dataclass
class ObjPolygons:
    vertices: np.ndarray  # (V, 3) float64
    uvs: np.ndarray  # (T, 2) float64
    polygons: list[np.ndarray]  # vertex indices (0-based) of each face
    polygon_uvs: list[np.ndarray]  # uv indices (0-based) of each face


def read_obj_vertices(path: Path) -> np.ndarray:
    """Only the ``v`` lines of an OBJ, as (V, 3) float64; fast enough for the ~150 morph-target files."""
    try:
        rows = [line.split()[1:4] for line in path.read_bytes().splitlines() if line.startswith(b"v ")]
        return np.array(rows, dtype=np.float64).reshape(-1, 3)
    except (OSError, ValueError) as exc:
        raise IctFaceKitError(f"cannot read vertices of {path}: {exc}") from exc


def read_obj_polygons(path: Path) -> ObjPolygons:
    """Vertices, texture coordinates and faces (``f v/vt[/vn]``) of an OBJ; other records are ignored."""
    vertices: list[list[str]] = []
    uvs: list[list[str]] = []
    polygons: list[np.ndarray] = []
    polygon_uvs: list[np.ndarray] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise IctFaceKitError(f"cannot read {path}: {exc}") from exc
    for line_no, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            vertices.append(parts[1:4])
        elif parts[0] == "vt":
            uvs.append(parts[1:3])
        elif parts[0] == "f":
            corners = [corner.split("/") for corner in parts[1:]]
            if len(corners) < 3 or any(len(c) < 2 or not c[1] for c in corners):
                raise IctFaceKitError(
                    f"{path}:{line_no}: face needs >= 3 corners written as v/vt, got {line.strip()!r}"
                )
            # OBJ indices are 1-based; negative ones count back from the latest element.
            polygons.append(np.array([_obj_index(c[0], len(vertices)) for c in corners], dtype=np.int64))
            polygon_uvs.append(np.array([_obj_index(c[1], len(uvs)) for c in corners], dtype=np.int64))
    return ObjPolygons(
        np.array(vertices, dtype=np.float64).reshape(-1, 3),
        np.array(uvs, dtype=np.float64).reshape(-1, 2),
        polygons,
        polygon_uvs,
    )


def _obj_index(token: str, count: int) -> int:
    index = int(token)
    return index - 1 if index > 0 else count + index


def fan_triangulate(polygons: list[np.ndarray], polygon_uvs: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Polygon (p0..pn) -> triangles (p0, p_i, p_i+1); returns (triangles, triangle_uvs, triangle_polygon)."""
    triangles, triangle_uvs, owner = [], [], []
    for index, (poly, poly_uv) in enumerate(zip(polygons, polygon_uvs, strict=True)):
        for i in range(1, len(poly) - 1):
            triangles.append((poly[0], poly[i], poly[i + 1]))
            triangle_uvs.append((poly_uv[0], poly_uv[i], poly_uv[i + 1]))
            owner.append(index)
    return (
        np.array(triangles, dtype=np.int32).reshape(-1, 3),
        np.array(triangle_uvs, dtype=np.int32).reshape(-1, 3),
        np.array(owner, dtype=np.int32),
    )


def convert_facexmodel(
    model_dir: str | Path,
    *,
    components: Components = ICT_COMPONENTS,
    license_text: str | None = None,
    source: str | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Read an upstream ``FaceXModel`` folder into the arrays of ``ict_facekit_light.npz``."""
    folder = Path(model_dir)
    config_path = folder / "vertex_indices.json"
    neutral_path = folder / "generic_neutral_mesh.obj"
    for needed in (config_path, neutral_path):
        if not needed.is_file():
            raise IctFaceKitError(f"{folder} is not an ICT-FaceKit FaceXModel folder: {needed.name} is missing")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IctFaceKitError(f"cannot parse {config_path}: {exc}") from exc
    for key in ("expressions", "idx_to_landmark_verts", "idx_to_fitting_verts", "idx_to_rigid_verts"):
        if key not in config:
            raise IctFaceKitError(f"{config_path} lacks the key {key!r}")

    mesh = read_obj_polygons(neutral_path)
    n_vertices, n_polygons = len(mesh.vertices), len(mesh.polygons)
    _check_components(components, n_vertices, n_polygons, neutral_path)
    triangles, triangle_uvs, triangle_polygon = fan_triangulate(mesh.polygons, mesh.polygon_uvs)
    if triangles.size and (triangles.max() >= n_vertices or triangles.min() < 0):
        raise IctFaceKitError(f"{neutral_path}: a face refers to a vertex outside 1..{n_vertices}")
    if triangle_uvs.size and (triangle_uvs.max() >= len(mesh.uvs) or triangle_uvs.min() < 0):
        raise IctFaceKitError(f"{neutral_path}: a face refers to a texture coordinate outside 1..{len(mesh.uvs)}")

    expression_names = [str(n) for n in config["expressions"]]
    identity_files = _identity_files(folder)
    targets = [(n, folder / f"{n}.obj") for n in expression_names] + [(p.stem, p) for p in identity_files]
    deltas = np.empty((len(targets), n_vertices, 3), dtype=np.float16)
    with _progress_bar(len(targets), "converting FaceXModel", enabled=progress) as advance:
        for index, (name, path) in enumerate(targets):
            if not path.is_file():
                raise IctFaceKitError(f"{folder}: {path.name} (listed in vertex_indices.json) is missing")
            target = read_obj_vertices(path)
            if target.shape != mesh.vertices.shape:
                raise IctFaceKitError(
                    f"{path}: {len(target)} vertices, but generic_neutral_mesh.obj has {n_vertices} ({name})"
                )
            deltas[index] = (target - mesh.vertices).astype(np.float16)
            advance()

    landmarks = np.asarray(config["idx_to_landmark_verts"], dtype=np.int32)
    if landmarks.shape != (68,) or landmarks.min() < 0 or landmarks.max() >= n_vertices:
        raise IctFaceKitError(f"{config_path}: idx_to_landmark_verts must be 68 vertex indices < {n_vertices}")
    n_expressions = len(expression_names)
    return {
        "neutral_vertices": mesh.vertices.astype(np.float32),
        "triangles": triangles,
        "triangle_uvs": triangle_uvs,
        "triangle_polygon": triangle_polygon,
        "uvs": mesh.uvs.astype(np.float32),
        "expression_deltas": deltas[:n_expressions],
        "expression_names": np.array(expression_names),
        "identity_deltas": deltas[n_expressions:],
        "identity_names": np.array([p.stem for p in identity_files]),
        "landmarks68": landmarks,
        "fitting_vertices": np.asarray(config["idx_to_fitting_verts"], dtype=np.int32),
        "rigid_vertices": np.asarray(config["idx_to_rigid_verts"], dtype=np.int32),
        "component_names": np.array([name for name, _, _ in components]),
        "component_vertex_ranges": np.array([v for _, v, _ in components], dtype=np.int32).reshape(-1, 2),
        "component_polygon_ranges": np.array([p for _, _, p in components], dtype=np.int32).reshape(-1, 2),
        "license": np.array(license_text if license_text is not None else ICT_LICENSE),
        "source": np.array(source if source is not None else f"{folder} FaceXModel (MIT)"),
    }


def _identity_files(folder: Path) -> list[Path]:
    """identity000.obj, identity001.obj, ... up to the first gap (as upstream's loader does)."""
    numbers = sorted(int(m.group(1)) for p in folder.iterdir() if (m := _IDENTITY_FILE.fullmatch(p.name)))
    count = next((i for i, n in enumerate(numbers) if n != i), len(numbers))
    return [folder / f"identity{i:03d}.obj" for i in range(count)]


def _check_components(components: Components, n_vertices: int, n_polygons: int, path: Path) -> None:
    v_end = p_end = 0
    for name, (v0, v1), (p0, p1) in components:
        if (v0, p0) != (v_end, p_end) or v1 < v0 or p1 < p0:
            raise IctFaceKitError(f"component table: {name!r} does not continue the previous component")
        v_end, p_end = v1, p1
    if (v_end, p_end) != (n_vertices, n_polygons):
        raise IctFaceKitError(
            f"{path} has {n_vertices} vertices / {n_polygons} polygons, but the component table covers "
            f"{v_end} / {p_end}: this is not the ICT-FaceKit revision {ICT_FACEKIT_COMMIT[:12]} topology"
        )


def write_npz_atomic(arrays: dict[str, np.ndarray], path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def pull_ict_facekit(
    dest_dir: str | Path | None = None,
    *,
    source_path: str | Path | None = None,
    source_url: str = ICT_FACEKIT_URL,
    expected_sha256: str | None = ICT_FACEKIT_CONTENT_SHA256,
    components: Components = ICT_COMPONENTS,
    progress: bool = True,
) -> Path:
    """Download (or take ``source_path``: a zip, a repo checkout or a FaceXModel folder), convert, verify, write.

    Writes ``<dest_dir>/ict_facekit_light.npz`` atomically (default dest ``~/.cache/portraittalker``) and returns
    its path. ``expected_sha256=None`` skips verification (e.g. for another upstream revision).
    """
    dest = Path(dest_dir).expanduser() if dest_dir is not None else DEFAULT_DEST.expanduser()
    with tempfile.TemporaryDirectory(prefix="ict_facekit_") as scratch:
        if source_path is not None:
            source = Path(source_path).expanduser()
            if not source.exists():
                raise IctFaceKitError(f"--from {source}: no such file or folder")
            origin = f"{source} FaceXModel (MIT)"
        else:
            source = Path(scratch) / "ict_facekit.zip"
            download(source_url, source, progress=progress)
            origin = _origin_from_url(source_url)
        if source.is_file():
            source = _extract_zip(source, Path(scratch) / "unzipped")
        model_dir = _find_facexmodel(source)
        license_file = model_dir.parent / "LICENSE"
        license_text = license_file.read_text(encoding="utf-8") if license_file.is_file() else None
        arrays = convert_facexmodel(
            model_dir, components=components, license_text=license_text, source=origin, progress=progress
        )
    if expected_sha256 is not None:
        actual = npz_content_sha256(arrays)
        if actual != expected_sha256:
            raise IctChecksumError(
                f"converted ICT-FaceKit content sha256 {actual} != pinned {expected_sha256} "
                f"(source: {source_path or source_url}); the upstream files differ from revision "
                f"{ICT_FACEKIT_COMMIT[:12]}. Pass expected_sha256=None to accept them anyway."
            )
    target = dest / ICT_FACEKIT.filename
    write_npz_atomic(arrays, target)
    return target


def _origin_from_url(url: str) -> str:
    match = re.search(r"github\.com/([^/]+/[^/]+)/zip/([0-9a-f]{7,40})", url)
    return f"{match.group(1)}@{match.group(2)} FaceXModel (MIT)" if match else f"{url} FaceXModel (MIT)"


def download(url: str, target: Path, *, progress: bool = True, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Stream ``url`` into ``target`` (atomically) with a progress bar; failures name the URL and ``--from``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, atomic_path(target) as tmp:
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as handle, _progress_bar(total, "downloading ICT-FaceKit", progress, True) as step:
                while chunk := response.read(1 << 20):
                    handle.write(chunk)
                    step(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise IctDownloadError(
            f"could not download ICT-FaceKit from {url}: {exc}. Without network access, download that zip "
            f"(or `git clone https://github.com/ICT-VGL/ICT-FaceKit` and check out {ICT_FACEKIT_COMMIT}) "
            "elsewhere and run `portraittalker assets pull ict-facekit --from PATH` with the zip or folder."
        ) from exc
    return target


def _extract_zip(archive: Path, into: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.namelist() if "FaceXModel/" in m or m.rstrip("/").endswith("LICENSE")]
            for member in members:
                resolved = (into / member).resolve()
                if not resolved.is_relative_to(into.resolve()):
                    raise IctFaceKitError(f"{archive}: unsafe path {member!r} in zip")
            zipped.extractall(into, members=members)
    except zipfile.BadZipFile as exc:
        raise IctFaceKitError(f"{archive} is not a valid zip file: {exc}") from exc
    return into


def _find_facexmodel(root: Path) -> Path:
    """The FaceXModel folder in ``root``: root itself, root/FaceXModel, or one level deeper (codeload zips)."""
    for candidate in (root, root / "FaceXModel", *sorted(root.glob("*/FaceXModel"))):
        if (candidate / "generic_neutral_mesh.obj").is_file():
            return candidate
    raise IctFaceKitError(f"no FaceXModel/generic_neutral_mesh.obj found in {root}")


@contextmanager
def _progress_bar(total: int | None, label: str, enabled: bool, as_bytes: bool = False) -> Iterator:
    """Yields ``advance(n=1)``; a tqdm bar on stderr when enabled (tqdm is a core dependency)."""
    if not enabled:
        yield lambda n=1: None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=label, unit="B" if as_bytes else "file", unit_scale=as_bytes) as bar:
        yield lambda n=1: bar.update(n)

