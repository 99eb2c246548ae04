"""GPU-ready mesh buffers shared by both renderers, and the albedo texture-atlas layout.

Why an atlas: ICT-FaceKit spreads its UVs over UDIM tiles (u in [0, 7): face in tile 0, head/neck
in 1, gums 2, teeth 3, ...) and the eyeballs reuse tile 0 on top of the face. A :class:`Material`
carries a single albedo image, so :func:`build_texture_atlas` packs every drawn tile (and every
component whose UVs overlap another one in its tile) into its own cell of one square texture.
The largest cell (the face) gets the top-left 3/4 x 3/4 block; the others share the remaining
L-shaped strip. ``Material.albedo`` is always in this atlas layout (v up, image row 0 = v = 1),
for both renderers and for whoever bakes textures.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from portraittalker.head.params import as_numpy

if TYPE_CHECKING:
    from portraittalker.head.params import HeadLike

_COVERAGE_GRID = 32  # resolution of the per-tile coverage test that detects overlapping UV islands
_OVERLAP_FRACTION = 0.25  # a component sharing more than this much of its coverage needs its own cell


@dataclass(frozen=True)
class AtlasCell:
    """One rectangle of the atlas: UDIM tile ``tile`` (u in [tile, tile+1)) scaled into ``rect``."""

    tile: int
    components: tuple[int, ...]
    rect: tuple[float, float, float, float]  # (u0, v0, size_u, size_v) in atlas UV space, v up


@dataclass(frozen=True)
class TextureAtlas:
    uvs: np.ndarray  # (F*3, 2) float32 atlas UV of every triangle corner, in [0, 1]
    face_uvs: np.ndarray  # (F, 3) int64 indices into ``uvs``
    cells: tuple[AtlasCell, ...]

    def cell_of_component(self, component: int) -> AtlasCell | None:
        return next((c for c in self.cells if component in c.components), None)


def _tile_coverage(corner_uvs: np.ndarray) -> np.ndarray:
    """Boolean (G, G) grid of tile cells touched by triangle centroids and corners (fractional UV)."""
    points = np.concatenate([corner_uvs.reshape(-1, 2), corner_uvs.mean(axis=1)])
    cells = np.clip((np.mod(points, 1.0) * _COVERAGE_GRID).astype(np.int64), 0, _COVERAGE_GRID - 1)
    grid = np.zeros((_COVERAGE_GRID, _COVERAGE_GRID), dtype=bool)
    grid[cells[:, 1], cells[:, 0]] = True
    return grid


def _cell_rects(n_cells: int) -> list[tuple[float, float, float, float]]:
    """Main block top-left, the rest in equal squares along the right column and bottom row."""
    if n_cells == 1:
        return [(0.0, 0.0, 1.0, 1.0)]
    grid = 4
    while grid * grid - (3 * grid // 4) ** 2 < n_cells - 1:
        grid += 4
    main, unit = 3 * grid // 4, 1.0 / grid
    rects = [(0.0, 1.0 - main * unit, main * unit, main * unit)]
    # Image-space slots (column, row from the top): right column first, then the bottom rows.
    slots = [(c, r) for r in range(main) for c in range(main, grid)]
    slots += [(c, r) for r in range(main, grid) for c in range(grid)]
    for column, row in slots[: n_cells - 1]:
        rects.append((column * unit, 1.0 - (row + 1) * unit, unit, unit))
    return rects


_ATLASES: weakref.WeakKeyDictionary[HeadLike, TextureAtlas] = weakref.WeakKeyDictionary()
_ATLAS_LOCK = threading.Lock()  # generation designs the avatar while a render lane builds: one packs, one waits


def build_texture_atlas(head: HeadLike) -> TextureAtlas:
    """Pack the UDIM tiles of ``head``'s drawn triangles into one square [0, 1]^2 atlas (built once per head
    object: the designer's texels and the renderer both need it; its arrays are read-only)."""
    with _ATLAS_LOCK:
        if head not in _ATLASES:
            _ATLASES[head] = _pack_atlas(head)
        return _ATLASES[head]


def _pack_atlas(head: HeadLike) -> TextureAtlas:
    faces_uv = as_numpy(head.face_uvs)
    uvs = as_numpy(head.uvs).astype(np.float64)
    component = as_numpy(head.triangle_component)
    drawn = as_numpy(head.render_faces)
    corner_uvs = uvs[faces_uv]  # (F, 3, 2)
    tile_of_face = np.floor(corner_uvs[:, :, 0].mean(axis=1)).astype(np.int64)

    # Group drawn components by tile; a component overlapping what is already in a cell gets a new cell.
    groups: list[tuple[int, list[int], np.ndarray]] = []  # (tile, components, coverage)
    for comp in np.unique(component[drawn]):
        faces_of_comp = drawn & (component == comp)
        for tile in np.unique(tile_of_face[faces_of_comp]):
            coverage = _tile_coverage(corner_uvs[faces_of_comp & (tile_of_face == tile)])
            for group_tile, members, group_coverage in groups:
                shared = (coverage & group_coverage).sum() / max(coverage.sum(), 1)
                if group_tile == tile and shared <= _OVERLAP_FRACTION:
                    members.append(int(comp))
                    group_coverage |= coverage
                    break
            else:
                groups.append((int(tile), [int(comp)], coverage))

    # The group with the most drawn triangles (the face) gets the big block.
    def triangle_count(group: tuple[int, list[int], np.ndarray]) -> int:
        tile, members, _ = group
        return int((drawn & np.isin(component, members) & (tile_of_face == tile)).sum())

    groups.sort(key=triangle_count, reverse=True)
    rects = _cell_rects(len(groups))
    atlas_uvs = np.zeros((len(faces_uv) * 3, 2), dtype=np.float32)
    flat = corner_uvs.reshape(-1, 2)
    cells = []
    for (tile, members, _), rect in zip(groups, rects, strict=True):
        cells.append(AtlasCell(tile=tile, components=tuple(members), rect=rect))
        corners = np.repeat(np.isin(component, members) & (tile_of_face == tile), 3)
        local = np.clip(flat[corners] - [tile, 0.0], 0.0, 1.0)
        atlas_uvs[corners] = [rect[0], rect[1]] + local * [rect[2], rect[3]]
    # Corners outside every cell (undrawn parts) keep their in-tile UV so they still sample valid texels.
    assigned = np.zeros(len(flat), dtype=bool)
    for cell in cells:
        assigned |= np.repeat(np.isin(component, cell.components) & (tile_of_face == cell.tile), 3)
    atlas_uvs[~assigned] = np.clip(np.mod(flat[~assigned], 1.0), 0.0, 1.0)
    face_uvs = np.arange(len(flat)).reshape(-1, 3)
    for shared in (atlas_uvs, face_uvs):  # one atlas per head is shared by every caller
        shared.setflags(write=False)
    return TextureAtlas(uvs=atlas_uvs, face_uvs=face_uvs, cells=tuple(cells))


@dataclass(frozen=True)
class SplitMesh:
    """Drawn triangles re-indexed over unique (vertex, atlas-UV) pairs, ready for a vertex buffer.

    ``vertex_ids[k]`` is the head vertex of split vertex ``k``; ``faces`` are the same triangles
    over head vertices (for normals, which must be smooth across UV seams).
    """

    vertex_ids: np.ndarray  # (S,) int64
    uvs: np.ndarray  # (S, 2) float32 atlas UVs
    triangles: np.ndarray  # (T, 3) int32 into the split vertices
    faces: np.ndarray  # (T, 3) int64 into the head vertices
    n_vertices: int  # head vertices


def build_split_mesh(head: HeadLike, atlas: TextureAtlas | None = None,
                     face_subset: np.ndarray | None = None) -> SplitMesh:
    """Split the drawn triangles (``head.render_faces``, or the boolean/index ``face_subset``)."""
    atlas = atlas or build_texture_atlas(head)
    all_faces = as_numpy(head.faces)
    drawn = as_numpy(head.render_faces) if face_subset is None else np.asarray(face_subset)
    if drawn.dtype != bool:
        drawn = np.isin(np.arange(len(all_faces)), drawn)
    faces = all_faces[drawn].astype(np.int64)
    # Atlas UVs are per corner; corners sharing a vertex and (quantised) UV become one split vertex.
    corner_uv = atlas.uvs[atlas.face_uvs[drawn].ravel()]
    uv_key = np.round(corner_uv.astype(np.float64) * (1 << 20)).astype(np.int64)  # in [0, 2^20]: 21 bits each
    # One int64 per corner, (vertex, u, v) from the most significant bits: sorts as the rows would, and a 1-D
    # unique is ~10x faster than np.unique(axis=0) (0.17 s of every renderer set-up).
    if int(head.n_vertices) < 1 << 21:
        keys = (faces.ravel() << 42) | (uv_key[:, 0] << 21) | uv_key[:, 1]
        unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        vertex_ids = unique_keys >> 42
    else:  # too many vertices to pack: unique rows
        rows = np.stack([faces.ravel(), uv_key[:, 0], uv_key[:, 1]], axis=1)
        unique_rows, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        vertex_ids = unique_rows[:, 0]
    return SplitMesh(
        vertex_ids=vertex_ids,
        uvs=corner_uv[first].astype(np.float32),
        triangles=inverse.reshape(-1, 3).astype(np.int32),
        faces=faces,
        n_vertices=int(head.n_vertices),
    )


class SplitVertexAttributes:
    """Per-frame (S, 6) float32 ``[position, normal]`` rows of the split vertices, from (V, 3) positions.

    Normals are area-weighted sums of the incident drawn faces' normals (left unnormalised: the shader
    normalises), gathered with one sparse product; ~2 ms for the ICT head on one core, no allocations.
    """

    def __init__(self, split: SplitMesh) -> None:
        import scipy.sparse as sparse

        n_faces = len(split.faces)
        self.corners = [np.ascontiguousarray(split.faces[:, k]) for k in range(3)]
        incidence = sparse.csr_matrix(
            (np.ones(3 * n_faces, np.float32), (split.faces.ravel(), np.repeat(np.arange(n_faces), 3))),
            shape=(split.n_vertices, n_faces),
        )
        self.split_incidence = incidence[split.vertex_ids].tocsr()  # (S, F): faces around each split vertex
        self.vertex_ids = split.vertex_ids
        self._corner_buffers = [np.empty((n_faces, 3), np.float32) for _ in range(3)]
        self._face_normals = np.empty((n_faces, 3), np.float32)
        self._positions = np.empty((len(split.vertex_ids), 3), np.float32)

    def __call__(self, vertices: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.empty((len(self.vertex_ids), 6), np.float32) if out is None else out
        a, b, c = self._corner_buffers
        for buffer, corner in zip(self._corner_buffers, self.corners, strict=True):
            np.take(vertices, corner, axis=0, out=buffer)
        np.subtract(b, a, out=b)
        np.subtract(c, a, out=c)
        normals = self._face_normals
        normals[:, 0] = b[:, 1] * c[:, 2] - b[:, 2] * c[:, 1]
        normals[:, 1] = b[:, 2] * c[:, 0] - b[:, 0] * c[:, 2]
        normals[:, 2] = b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0]
        out[:, 3:] = self.split_incidence @ normals
        np.take(vertices, self.vertex_ids, axis=0, out=self._positions)
        out[:, :3] = self._positions
        return out


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) float32 (reference implementation for tests)."""
    corners = vertices[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-20)).astype(np.float32)


# Linear-ish sRGB display colours for the stand-in albedo, by ICT component-name keyword.
_PART_COLORS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("mouth_socket", (96, 38, 40)),
    ("gums_tongue", (170, 72, 78)),
    ("teeth", (226, 218, 200)),
    ("eyeball", (236, 232, 226)),
    ("lacrimal", (236, 232, 226)),
    ("eye_socket", (120, 70, 64)),
)
SKIN_COLOR = (214, 160, 132)


def default_albedo(head: HeadLike, size: int = 1024, atlas: TextureAtlas | None = None) -> np.ndarray:
    """A plain stand-in albedo (size, size, 3) uint8 in atlas layout: skin, red lips/gums, white teeth and eyes.

    Used when no per-avatar texture has been baked, and by tests and benchmarks.
    """
    atlas = atlas or build_texture_atlas(head)
    texture = np.empty((size, size, 3), dtype=np.uint8)
    texture[:] = SKIN_COLOR
    component = as_numpy(head.triangle_component)
    drawn = as_numpy(head.render_faces)
    names = getattr(head, "component_names", [])
    to_pixels = np.array([size, -size], dtype=np.float64)
    for index, name in enumerate(names):
        color = next((c for key, c in _PART_COLORS if key in name), None)
        selected = drawn & (component == index)
        if color is None or not selected.any():
            continue
        corners = atlas.uvs[atlas.face_uvs[selected]].astype(np.float64) * to_pixels + [0.0, size]
        _fill_triangles(texture, corners, color)
        if "eyeball" in name:  # a dark iris around the eyeball's UV centre (the cornea faces +Z)
            cell = atlas.cell_of_component(index)
            if cell is not None:
                u0, v0, su, sv = cell.rect
                centre = (int((u0 + 0.5 * su) * size), int((1.0 - (v0 + 0.5 * sv)) * size))
                cv2.circle(texture, centre, max(1, int(0.12 * su * size)), (70, 52, 40), -1)
                cv2.circle(texture, centre, max(1, int(0.05 * su * size)), (12, 10, 10), -1)
    # Slightly darker lips, so mouth shapes read on the stand-in texture.
    lips = getattr(head, "lip_vertices", None)
    if lips is not None and len(lips) > 0:
        lip_set = np.zeros(int(head.n_vertices), dtype=bool)
        lip_set[as_numpy(lips)] = True
        faces = as_numpy(head.faces)
        lip_faces = drawn & lip_set[faces].all(axis=1) & (component == 0)
        corners = atlas.uvs[atlas.face_uvs[lip_faces]].astype(np.float64) * to_pixels + [0.0, size]
        _fill_triangles(texture, corners, (176, 96, 92))
    return texture


def _fill_triangles(texture: np.ndarray, corners: np.ndarray, color: tuple[int, int, int]) -> None:
    """Fill (N, 3, 2) pixel-space triangles one by one (fillPoly on a list would XOR overlaps)."""
    for triangle in np.round(corners * 16).astype(np.int32):
        cv2.fillConvexPoly(texture, triangle, color, lineType=cv2.LINE_AA, shift=4)

