"""Per-texel geometry of a head's albedo atlas: which part, and where on the neutral head, each texel lies.

Texture painting works in 3-D rather than in UV space so that painted features (hair, lips, freckles,
noise) are continuous across UV seams and across atlas cells. Every texel of the atlas produced by
:func:`portraittalker.render.mesh.build_texture_atlas` gets the neutral-mesh position, normal and
component of the surface point it covers; texels outside every triangle (gutters) copy their nearest
covered texel *within the same atlas cell*, so bilinear/mipmapped sampling at island borders never
picks up background colour.

Everything here depends only on the head and the resolution, so it is cached per head in memory and, because
building it takes seconds (the first design of every process paid it), on disk under ``$PORTRAITTALKER_CACHE``
(default ``~/.cache/portraittalker``) keyed by a hash of the head's geometry, UVs and the resolution.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from portraittalker.head import disk_cache
from portraittalker.head.params import as_numpy, neutral_vertices
from portraittalker.render.mesh import TextureAtlas, build_texture_atlas

if TYPE_CHECKING:
    from portraittalker.head.params import HeadLike

_SUBPIXEL_BITS = 4  # cv2 fixed-point precision for triangle corners
_CACHE_FORMAT = 1  # bump when _build changes what it computes: old cache files are then ignored
_ARRAYS = ("component", "covered", "position", "normal", "tile_uv", "cell_index")


@dataclass(frozen=True)
class TexelGeometry:
    """Atlas-space geometry at ``resolution``², row 0 = top of the image (atlas v = 1)."""

    resolution: int
    atlas: TextureAtlas
    component: np.ndarray  # (H, W) int16 head component index (gutters: nearest island), -1 = no cell
    covered: np.ndarray  # (H, W) bool: texel centre lies inside a drawn triangle
    position: np.ndarray  # (H, W, 3) float32 neutral-mesh position in metres
    normal: np.ndarray  # (H, W, 3) float32 unit neutral-mesh normal
    tile_uv: np.ndarray  # (H, W, 2) float32 the head's own UV, fractional part within its UDIM tile
    cell_index: np.ndarray  # (H, W) int16 index into ``atlas.cells``, -1 outside every cell

    def component_mask(self, head: HeadLike, *names: str) -> np.ndarray:
        """(H, W) bool of texels whose component name starts with any of ``names``."""
        ids = [i for i, n in enumerate(head.component_names) if n.startswith(names)]
        return np.isin(self.component, ids)


_CACHE: weakref.WeakKeyDictionary[HeadLike, dict[int, TexelGeometry]] = weakref.WeakKeyDictionary()


def texel_geometry(head: HeadLike, resolution: int) -> TexelGeometry:
    """Cached :class:`TexelGeometry` of ``head`` at ``resolution`` (square atlas)."""
    if resolution < 16:
        raise ValueError(f"texture resolution must be at least 16, got {resolution}")
    per_head = _CACHE.setdefault(head, {})
    if resolution not in per_head:
        per_head[resolution] = _load_or_build(head, resolution)
    return per_head[resolution]


def cache_dir() -> Path:
    return disk_cache.cache_dir("texels")


def _neutral(head: HeadLike) -> np.ndarray:
    return neutral_vertices(head)


def _cache_key(head: HeadLike, size: int, neutral: np.ndarray) -> str:
    """Hash of every input of :func:`_build`: the geometry, UVs, components and drawn faces, and the size."""
    digest = hashlib.sha256(f"texels-v{_CACHE_FORMAT}-{size}-{head.n_vertices}".encode())
    for array in (neutral, head.faces, head.render_faces, head.triangle_component, head.uvs, head.face_uvs):
        values = np.ascontiguousarray(as_numpy(array))
        digest.update(f"{values.dtype}{values.shape}".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()[:32]


def geometry_key(head: HeadLike, size: int) -> str:
    """The disk-cache key of ``head``'s texel geometry at ``size``: a hash of everything it is computed from."""
    return _cache_key(head, size, _neutral(head))


def _load_or_build(head: HeadLike, size: int) -> TexelGeometry:
    neutral = _neutral(head)
    path = cache_dir() / _cache_key(head, size, neutral)
    arrays = disk_cache.load_arrays(path, _ARRAYS)
    if arrays is not None:
        return TexelGeometry(size, build_texture_atlas(head), **arrays)
    geometry = _build(head, size, neutral)
    disk_cache.store_arrays(path, {name: getattr(geometry, name) for name in _ARRAYS})
    return geometry


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    corners = vertices[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-20)


def _build(head: HeadLike, size: int, neutral: np.ndarray | None = None) -> TexelGeometry:
    from scipy import ndimage  # here: only a cache miss needs it, and the import costs generate ~0.15 s

    atlas = build_texture_atlas(head)
    faces = as_numpy(head.faces)
    drawn = np.flatnonzero(as_numpy(head.render_faces))
    component_of_face = as_numpy(head.triangle_component)
    neutral = _neutral(head) if neutral is None else neutral
    normals = _vertex_normals(neutral, faces)
    tile_uvs = as_numpy(head.uvs).astype(np.float64)[as_numpy(head.face_uvs)]  # (F, 3, 2)
    tile_uvs = tile_uvs - np.floor(tile_uvs.mean(axis=1, keepdims=True))

    # Atlas UV (v up) -> continuous pixel coordinates (x right, y down, pixel centres at +0.5).
    corner_px = atlas.uvs[atlas.face_uvs].astype(np.float64) * [size, -size] + [0.0, size]  # (F, 3, 2)
    # Triangle-id image: cv2 treats integer coordinates as pixel centres, hence the -0.5.
    ids = np.full((size, size), -1, dtype=np.int32)
    fixed = np.round((corner_px - 0.5) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    for face in drawn:
        cv2.fillConvexPoly(ids, fixed[face], int(face), lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    covered = ids >= 0

    # Barycentric interpolation at covered texel centres.
    ys, xs = np.nonzero(covered)
    tri = ids[ys, xs]
    p = np.stack([xs + 0.5, ys + 0.5], axis=1)
    a, b, c = corner_px[tri, 0], corner_px[tri, 1], corner_px[tri, 2]
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)
    w1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    w2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    # cv2 also fills pixels whose centre lies just outside an edge: clamp into the triangle.
    weights = np.clip(np.stack([1.0 - w1 - w2, w1, w2], axis=1), 0.0, 1.0)
    weights = (weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12))[:, :, None]
    position = np.zeros((size, size, 3), dtype=np.float32)
    normal = np.zeros((size, size, 3), dtype=np.float32)
    tile_uv = np.zeros((size, size, 2), dtype=np.float32)
    position[ys, xs] = (neutral[faces[tri]] * weights).sum(axis=1)
    n = (normals[faces[tri]] * weights).sum(axis=1)
    normal[ys, xs] = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    tile_uv[ys, xs] = (tile_uvs[tri] * weights).sum(axis=1)
    component = np.full((size, size), -1, dtype=np.int16)
    component[ys, xs] = component_of_face[tri]

    # Gutters: copy the nearest covered texel of the same cell.
    cell_index = np.full((size, size), -1, dtype=np.int16)
    for index, cell in enumerate(atlas.cells):
        u0, v0_, su, sv = cell.rect
        x0, x1 = round(u0 * size), round((u0 + su) * size)
        y0, y1 = round((1.0 - v0_ - sv) * size), round((1.0 - v0_) * size)
        cell_index[y0:y1, x0:x1] = index
        inside = covered[y0:y1, x0:x1]
        if not inside.any() or inside.all():
            continue
        _, (near_y, near_x) = ndimage.distance_transform_edt(~inside, return_indices=True)
        for array in (position, normal, tile_uv, component):
            block = array[y0:y1, x0:x1]
            block[...] = block[near_y, near_x]
    return TexelGeometry(size, atlas, component, covered, position, normal, tile_uv, cell_index)
