"""Geometry regularisers of the displacement field: uniform Laplacian and normal consistency."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


class MeshRegulariser(nn.Module):
    """Precomputed adjacency of ``faces`` (T, 3) over V vertices."""

    def __init__(self, faces: Tensor, n_vertices: int) -> None:
        super().__init__()
        faces_np = faces.cpu().numpy().astype(np.int64)
        edges = np.concatenate([faces_np[:, [0, 1]], faces_np[:, [1, 2]], faces_np[:, [2, 0]]])
        edges = np.unique(np.sort(edges, axis=1), axis=0)
        self.register_buffer("edges", torch.from_numpy(edges), persistent=False)
        degree = np.bincount(edges.ravel(), minlength=n_vertices).astype(np.float32)
        self.register_buffer("degree", torch.from_numpy(degree), persistent=False)
        self.register_buffer("faces", faces.cpu().long(), persistent=False)
        # Pairs of faces sharing an edge (for normal consistency).
        face_edges = np.sort(np.stack([faces_np[:, [0, 1]], faces_np[:, [1, 2]], faces_np[:, [2, 0]]], 1), -1)
        flat = face_edges.reshape(-1, 2)
        owner = np.repeat(np.arange(len(faces_np)), 3)
        key = flat[:, 0] * (n_vertices + 1) + flat[:, 1]
        order = np.argsort(key, kind="stable")
        key_sorted, owner_sorted = key[order], owner[order]
        same = key_sorted[1:] == key_sorted[:-1]
        pairs = np.stack([owner_sorted[:-1][same], owner_sorted[1:][same]], 1)
        self.register_buffer("face_pairs", torch.from_numpy(pairs.astype(np.int64)), persistent=False)
        self.n_vertices = n_vertices

    def laplacian(self, offsets: Tensor) -> Tensor:
        """Mean squared uniform Laplacian of a (V, 3) field (vertices off the mesh are ignored)."""
        i, j = self.edges[:, 0], self.edges[:, 1]
        total = torch.zeros_like(offsets).index_add(0, i, offsets[j]).index_add(0, j, offsets[i])
        used = self.degree > 0
        lap = offsets[used] - total[used] / self.degree[used, None]
        return lap.square().sum(-1).mean()

    def normal_consistency(self, vertices: Tensor) -> Tensor:
        """Mean 1 - cos between the normals of faces sharing an edge, (V, 3) vertices."""
        corners = vertices[self.faces]
        normals = torch.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=-1)
        normals = nn.functional.normalize(normals, dim=-1, eps=1e-12)
        a, b = normals[self.face_pairs[:, 0]], normals[self.face_pairs[:, 1]]
        return (1.0 - (a * b).sum(-1)).mean()
