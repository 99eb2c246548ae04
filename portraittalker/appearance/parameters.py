"""Learnable appearance: hierarchical UV albedo, identity, normal displacements, SH lighting."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from portraittalker.appearance.config import GeometryConfig, LightingConfig, TextureConfig
from portraittalker.head.base import HeadModel, HeadParams
from portraittalker.render.scene import DirectionalLight, Lighting

SH_CONSTANTS = (0.282095, 0.488603, 1.092548, 0.315392, 0.546274)


class HierarchicalTexture(nn.Module):
    """albedo = sigmoid(logit(init) + sum_k up(level_k)), levels from ``base_resolution`` doubling to ``size``.

    Level k is switched on by :meth:`forward`'s ``active`` count (coarse to fine); levels start at 0,
    so the initial albedo is exactly ``init``.
    """

    def __init__(self, init: np.ndarray, config: TextureConfig) -> None:
        super().__init__()
        size = int(config.size)
        init_t = torch.as_tensor(np.asarray(init), dtype=torch.float32)
        if init_t.ndim != 3 or init_t.shape[-1] != 3:
            raise ValueError(f"initial albedo must be (H, W, 3), got {tuple(init_t.shape)}")
        if init_t.max() > 1.0:
            init_t = init_t / 255.0
        init_t = init_t.permute(2, 0, 1)[None]
        if init_t.shape[-1] != size or init_t.shape[-2] != size:
            init_t = nn.functional.interpolate(init_t, size=(size, size), mode="bilinear", align_corners=False,
                                               antialias=True)
        self.register_buffer("base_logit", torch.logit(init_t.clamp(0.02, 0.98)))
        resolutions = []
        resolution = min(config.base_resolution, size)
        for _ in range(config.levels):
            resolutions.append(resolution)
            if resolution >= size:
                break
            resolution = min(resolution * 2, size)
        self.resolutions = resolutions
        self.levels = nn.ParameterList([nn.Parameter(torch.zeros(1, 3, r, r)) for r in resolutions])
        self.size = size

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def forward(self, active: int | None = None) -> Tensor:
        """(1, size, size, 3) albedo in [0, 1] (atlas layout, row 0 = v = 1)."""
        logit = self.base_logit
        for level in list(self.levels)[: self.n_levels if active is None else max(1, active)]:
            up = level if level.shape[-1] == self.size else nn.functional.interpolate(
                level, size=(self.size, self.size), mode="bilinear", align_corners=False)
            logit = logit + up
        return torch.sigmoid(logit).permute(0, 2, 3, 1)


def sh_basis(normals: Tensor) -> Tensor:
    """(…, 3) unit normals -> (…, 9) real SH basis (bands 0-2)."""
    x, y, z = normals.unbind(-1)
    c0, c1, c2, c3, c4 = SH_CONSTANTS
    return torch.stack([
        torch.full_like(x, c0), c1 * y, c1 * z, c1 * x,
        c2 * x * y, c2 * y * z, c3 * (3 * z * z - 1), c2 * x * z, c4 * (x * x - y * y),
    ], dim=-1)


def _sphere_normals(count: int = 2000) -> Tensor:
    """Fibonacci-sphere unit vectors (deterministic)."""
    i = torch.arange(count, dtype=torch.float64) + 0.5
    phi = torch.acos(1 - 2 * i / count)
    theta = math.pi * (1 + 5**0.5) * i
    return torch.stack([phi.sin() * theta.cos(), phi.cos(), phi.sin() * theta.sin()], -1).float()


def lighting_irradiance(lighting: Lighting, normals: Tensor) -> Tensor:
    """(N, 3) diffuse irradiance of a :class:`Lighting` (as the renderers' Lambert term)."""
    out = torch.tensor(lighting.ambient, dtype=normals.dtype).expand(normals.shape[0], 3).clone()
    for light in lighting.lights:
        direction = nn.functional.normalize(torch.tensor(light.direction, dtype=normals.dtype), dim=0)
        out += (normals @ direction).clamp_min(0)[:, None] * torch.tensor(light.color) * light.intensity
    return out


def sh_from_lighting(lighting: Lighting) -> Tensor:
    """(9, 3) SH irradiance coefficients fitted (least squares) to ``lighting``'s diffuse term."""
    normals = _sphere_normals()
    basis = sh_basis(normals)
    return torch.linalg.lstsq(basis, lighting_irradiance(lighting, normals)).solution


def lighting_from_sh(coefficients: Tensor, reference: Lighting) -> Lighting:
    """Ambient + one directional light approximating SH irradiance (the avatar format's lighting model).

    The light points along the band-1 vector; ambient and the light's colour are least-squares fitted
    per channel on sphere samples. Fill lights of ``reference`` beyond the first are dropped.
    """
    coefficients = coefficients.detach().cpu().float()
    band1 = coefficients[1:4].mean(-1)  # (y, z, x) order
    direction = torch.stack([band1[2], band1[0], band1[1]])
    if float(direction.norm()) < 1e-6:
        direction = torch.tensor(reference.lights[0].direction if reference.lights else (0.0, 0.0, 1.0))
    direction = nn.functional.normalize(direction, dim=0)
    normals = _sphere_normals()
    target = sh_basis(normals) @ coefficients  # (N, 3)
    design = torch.stack([torch.ones(len(normals)), (normals @ direction).clamp_min(0)], -1)
    solution = torch.linalg.lstsq(design, target).solution.clamp_min(0.0)  # (2, 3)
    ambient, color = solution[0], solution[1]
    intensity = float(color.max())
    light_color = (color / intensity) if intensity > 0 else torch.ones(3)
    return Lighting(
        ambient=tuple(float(a) for a in ambient),
        lights=(DirectionalLight(direction=tuple(float(d) for d in direction),
                                 color=tuple(float(c) for c in light_color), intensity=max(intensity, 0.0)),),
    )


def component_vertex_mask(head: HeadModel, names: list[str]) -> Tensor:
    """(V,) bool: vertices used by drawn triangles of the named components."""
    mask = torch.zeros(head.n_vertices, dtype=torch.bool)
    known = list(getattr(head, "component_names", []))
    wanted = [known.index(n) for n in names if n in known]
    if not wanted:
        return mask
    faces = head.faces.cpu()[torch.isin(head.triangle_component.cpu(), torch.tensor(wanted))
                             & head.render_faces.cpu()]
    mask[faces.reshape(-1)] = True
    return mask


class AppearanceParameters(nn.Module):
    """Everything the optimiser learns; :meth:`vertices` and :meth:`albedo` feed the renderer."""

    def __init__(self, head: HeadModel, init_albedo: np.ndarray, init_identity: np.ndarray,
                 init_lighting: Lighting, texture: TextureConfig, geometry: GeometryConfig,
                 lighting: LightingConfig) -> None:
        super().__init__()
        self.head = head
        self.geometry_config = geometry
        self.texture = HierarchicalTexture(init_albedo, texture)
        identity = torch.as_tensor(np.asarray(init_identity, dtype=np.float32))[None]
        if identity.shape[1] != head.n_identity:
            raise ValueError(f"identity has {identity.shape[1]} coefficients, head {head.name} has {head.n_identity}")
        self.identity = nn.Parameter(identity, requires_grad=geometry.learn_identity)
        mask = component_vertex_mask(head, geometry.displace_components)
        self.register_buffer("displace_mask", mask.float())
        self.displacement = nn.Parameter(torch.zeros(head.n_vertices), requires_grad=geometry.displacement)
        self.sh = nn.Parameter(sh_from_lighting(init_lighting), requires_grad=lighting.spherical_harmonics)
        self.use_sh = lighting.spherical_harmonics

    @property
    def geometry_frozen(self) -> bool:
        return not (self.identity.requires_grad or self.displacement.requires_grad)

    def param_groups(self, optim) -> list[dict]:
        groups = [{"params": list(self.texture.levels), "lr": optim.texture_lr, "name": "texture"}]
        if self.identity.requires_grad:
            groups.append({"params": [self.identity], "lr": optim.identity_lr, "name": "identity"})
        if self.displacement.requires_grad:
            groups.append({"params": [self.displacement], "lr": optim.displacement_lr, "name": "displacement"})
        if self.sh.requires_grad:
            groups.append({"params": [self.sh], "lr": optim.lighting_lr, "name": "lighting"})
        return groups

    def offsets(self, rest: Tensor | None = None) -> Tensor:
        """(V, 3) metres: displacement along the rest-pose (identity, neutral expression) normals."""
        if rest is None:
            rest = self.rest_vertices()
        normals = _vertex_normals(rest.detach(), self.head.faces[self.head.render_faces])
        amount = self.geometry_config.max_displacement_m * torch.tanh(self.displacement) * self.displace_mask
        return amount[:, None] * normals

    def rest_vertices(self) -> Tensor:
        params = self.head.neutral_params(1, self.identity.device)
        params.identity = self.identity
        return self.head.deform(params)[0]

    def vertices(self, params: HeadParams) -> Tensor:
        """(B, V, 3) posed vertices of ``params`` with the learnt identity and displacement."""
        params = HeadParams(**{**params.__dict__, "identity": self.identity})
        deformed = self.head.deform(params)
        if self.displacement.requires_grad or bool(self.displacement.detach().abs().gt(0).any()):
            deformed = deformed + self.offsets()[None]
        return self.head.apply_head_pose(deformed, params)

    def albedo(self, active_levels: int | None = None) -> Tensor:
        return self.texture(active_levels)


def _vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    corners = vertices[faces]
    face_normals = torch.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=-1)
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals = normals.index_add(0, faces[:, k], face_normals)
    return nn.functional.normalize(normals, dim=-1, eps=1e-12)
