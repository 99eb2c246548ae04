"""The optimiser's renderer (DiffRenderer + SH diffuse + per-view raster cache) and its random views."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pytorch3d.renderer.mesh.rasterizer import Fragments
from torch import Tensor, nn

from portraittalker.appearance.config import RenderSection, ViewConfig
from portraittalker.appearance.parameters import sh_basis
from portraittalker.head.base import HeadModel, HeadParams
from portraittalker.render.diff import DiffRenderer, TorchCamera
from portraittalker.render.scene import Lighting


def face_subset(head: HeadModel, components: Sequence[str] | None) -> np.ndarray | None:
    if components is None:
        return None
    names = list(head.component_names)
    unknown = [c for c in components if c not in names]
    if unknown:
        raise ValueError(f"render.components: unknown head components {unknown}; {head.name} has {names}")
    wanted = [names.index(c) for c in components]
    return np.isin(head.triangle_component.cpu().numpy(), wanted) & head.render_faces.cpu().numpy()


class AppearanceRenderer(DiffRenderer):
    """:class:`DiffRenderer` whose diffuse term can be SH irradiance, with an optional raster cache.

    Rasterisation does not depend on texture or lighting: while the geometry is frozen (vertices need
    no gradient) :meth:`cached_views` reuses each view's fragments, so texture steps cost only shading.
    """

    def __init__(self, head: HeadModel, config: RenderSection, device: torch.device | str = "cpu",
                 image_size: int | None = None) -> None:
        super().__init__(head, image_size or config.image_size, config.diff, device,
                         face_subset=face_subset(head, config.components))
        self.sh: Tensor | None = None
        self._keys: Sequence[object] | None = None
        self._cache: dict[object, Fragments] = {}
        self._light_cache: dict[object, tuple[Tensor, Tensor, Tensor]] = {}

    @contextlib.contextmanager
    def cached_views(self, keys: Sequence[object] | None) -> Iterator[None]:
        self._keys = keys
        try:
            yield
        finally:
            self._keys = None

    def clear_cache(self) -> None:
        self._cache.clear()
        self._light_cache.clear()

    def _rasterize(self, vertices: Tensor, view: Tensor, projection: Tensor) -> Fragments:
        keys = self._keys
        if keys is None or vertices.requires_grad:
            return super()._rasterize(vertices, view, projection)
        parts = []
        for b, key in enumerate(keys):
            fragments = self._cache.get(key)
            if fragments is None:
                fragments = super()._rasterize(vertices[b : b + 1], view[b : b + 1], projection[b : b + 1])
                self._cache[key] = fragments
            parts.append(fragments)
        n_faces = self.faces.shape[0]
        pix = [torch.where(f.pix_to_face >= 0, f.pix_to_face + b * n_faces, f.pix_to_face) for b, f in enumerate(parts)]
        return Fragments(pix_to_face=torch.cat(pix), zbuf=torch.cat([f.zbuf for f in parts]),
                         bary_coords=torch.cat([f.bary_coords for f in parts]),
                         dists=torch.cat([f.dists for f in parts]))

    def _vertex_lighting(self, vertices: Tensor, lighting: Lighting, eye: Tensor, to_camera: Tensor,
                         orthographic: bool) -> tuple[Tensor, Tensor]:
        keys = self._keys
        if keys is not None and not vertices.requires_grad:  # frozen geometry: shading terms per view are constant
            missing = [b for b, key in enumerate(keys) if (key, lighting) not in self._light_cache]
            if missing:
                index = torch.tensor(missing, device=vertices.device)
                terms = self._lighting_terms(vertices[index], lighting, eye[index], to_camera[index], orthographic)
                for row, b in enumerate(missing):
                    self._light_cache[(keys[b], lighting)] = tuple(t[row : row + 1] for t in terms)
            parts = [self._light_cache[(key, lighting)] for key in keys]
            diffuse, highlight, basis = (torch.cat([p[i] for p in parts]) for i in range(3))
        else:
            diffuse, highlight, basis = self._lighting_terms(vertices, lighting, eye, to_camera, orthographic)
        if self.sh is not None:
            diffuse = (basis @ self.sh.to(vertices)).clamp_min(0.0)
        return diffuse, highlight

    def _lighting_terms(self, vertices: Tensor, lighting: Lighting, eye: Tensor, to_camera: Tensor,
                        orthographic: bool) -> tuple[Tensor, Tensor, Tensor]:
        """(Lambert diffuse, highlight, SH basis of the eye-facing normals), each (B, V, k)."""
        diffuse, highlight = super()._vertex_lighting(vertices, lighting, eye, to_camera, orthographic)
        normals = self.vertex_normals(vertices)
        to_eye = (to_camera[:, None, :].expand_as(vertices) if orthographic
                  else nn.functional.normalize(eye[:, None, :] - vertices, dim=-1))
        normals = torch.where((normals * to_eye).sum(-1, keepdim=True) < 0, -normals, normals)
        return diffuse, highlight, sh_basis(normals)


@dataclass
class ViewBatch:
    """B views: head parameters (identity is replaced by the learnt one), camera, background."""

    params: HeadParams
    camera: TorchCamera
    yaw_deg: Tensor  # (B,)
    pitch_deg: Tensor  # (B,)
    background: Tensor  # (B, H, W, 3)
    keys: list[object] | None = None  # raster-cache keys (fixed views), else None

    @property
    def batch_size(self) -> int:
        return int(self.yaw_deg.shape[0])


def torch_camera(yaw: Tensor, pitch: Tensor, distance: Tensor, fov_deg: float, target: Sequence[float],
                 image_size: int) -> TorchCamera:
    return TorchCamera(yaw_deg=yaw, pitch_deg=pitch, distance_m=distance, fov_deg=torch.tensor(float(fov_deg)),
                       ortho_height_m=torch.tensor(0.34), target=torch.tensor(tuple(target), dtype=torch.float32),
                       image_size=image_size)


class ViewSampler:
    """Random cameras (yaw, pitch, distance), expressions and jaw openings; seeded, resumable."""

    def __init__(self, head: HeadModel, config: ViewConfig, image_size: int, seed: int = 0,
                 avatar_background: tuple[float, float, float] = (0.5, 0.5, 0.5)) -> None:
        self.head, self.config, self.image_size = head, config, image_size
        self.generator = torch.Generator().manual_seed(int(seed))
        self.avatar_background = avatar_background
        self._pool: list[dict[str, Tensor]] | None = None
        if config.pool > 0:
            self._pool = [self._draw(1) for _ in range(config.pool)]

    def _uniform(self, bounds: Sequence[float], count: int) -> Tensor:
        low, high = float(bounds[0]), float(bounds[1])
        return low + (high - low) * torch.rand(count, generator=self.generator)

    def _draw(self, count: int) -> dict[str, Tensor]:
        cfg, head = self.config, self.head
        yaw, pitch = self._uniform(cfg.yaw_deg, count), self._uniform(cfg.pitch_deg, count)
        distance = self._uniform(cfg.distance_m, count)
        expression = torch.zeros(count, head.n_expression)
        use = torch.rand(count, generator=self.generator) < cfg.expression_probability
        for b in range(count):
            if bool(use[b]) and cfg.expressions_per_view > 0 and head.n_expression > 0:
                ids = torch.randperm(head.n_expression, generator=self.generator)[: cfg.expressions_per_view]
                expression[b, ids] = cfg.expression_max * torch.rand(len(ids), generator=self.generator)
        jaw = torch.zeros(count, 3)
        open_jaw = torch.rand(count, generator=self.generator) < cfg.jaw_probability
        jaw[:, 0] = open_jaw * cfg.jaw_max_rad * torch.rand(count, generator=self.generator)
        if cfg.background == "random":
            background = torch.rand(count, 1, 1, 3, generator=self.generator) * 0.8 + 0.1
        elif cfg.background == "avatar":
            background = torch.tensor(self.avatar_background).expand(count, 1, 1, 3)
        else:
            background = torch.full((count, 1, 1, 3), 1.0 if cfg.background == "white" else 0.0)
        return {"yaw": yaw, "pitch": pitch, "distance": distance, "expression": expression, "jaw": jaw,
                "background": background}

    def sample(self, step: int, device: torch.device | str = "cpu") -> ViewBatch:
        cfg = self.config
        keys = None
        if self._pool is not None:
            picks = torch.randint(len(self._pool), (cfg.batch_size,), generator=self.generator).tolist()
            parts = [self._pool[i] for i in picks]
            draw = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
            keys = [("pool", i) for i in picks]
        else:
            draw = self._draw(cfg.batch_size)
        count = cfg.batch_size
        params = self.head.neutral_params(count, device)
        params.expression = draw["expression"].to(device)
        params.jaw = draw["jaw"].to(device)
        size = self.image_size
        camera = torch_camera(draw["yaw"].to(device), draw["pitch"].to(device), draw["distance"].to(device),
                              cfg.fov_deg, cfg.target, size)
        camera.fov_deg, camera.ortho_height_m = camera.fov_deg.to(device), camera.ortho_height_m.to(device)
        camera.target = camera.target.to(device)
        background = draw["background"].to(device).expand(count, size, size, 3)
        return ViewBatch(params=params, camera=camera, yaw_deg=draw["yaw"], pitch_deg=draw["pitch"],
                         background=background, keys=keys)

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])
