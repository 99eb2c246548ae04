"""Differentiable renderer (pytorch3d rasteriser) matching :class:`~portraittalker.render.gl.GLRenderer`.

Same camera, lighting, texture atlas and shading model as the GL renderer: vertices go through the
exact ``projection @ view`` matrices of :class:`Camera` (computed in torch, so camera parameters can
carry gradients via :class:`TorchCamera`), are rasterised by pytorch3d (hard or soft, per
:class:`DiffRendererConfig`), lit per vertex (Lambert + Blinn-Phong, two-sided) and textured with
``TexturesUV`` over the atlas UVs (:func:`portraittalker.render.mesh.build_texture_atlas`).
Output is display-encoded (gamma 2) RGB in [0, 1], like the GL frames divided by 255.

pytorch3d's NDC has +X left, +Y up and +Z into the screen; OpenGL's NDC has +X right, so x is negated,
and the rasteriser gets view-space depth as z (as ``MeshRasterizer`` does) for perspective-correct
barycentrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from pytorch3d.ops import interpolate_face_attributes
from pytorch3d.renderer import FoVOrthographicCameras, FoVPerspectiveCameras, TexturesUV
from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
from pytorch3d.renderer.mesh.rasterizer import Fragments
from pytorch3d.structures import Meshes
from torch import Tensor, nn

from portraittalker.errors import PortraitTalkerError
from portraittalker.head.base import HeadModel
from portraittalker.render.config import DiffRendererConfig
from portraittalker.render.mesh import build_split_mesh, build_texture_atlas
from portraittalker.render.scene import Background, Camera, Lighting


class DiffRenderError(PortraitTalkerError, ValueError):
    """The differentiable renderer was given unusable input."""


class RenderOutput(NamedTuple):
    image: Tensor  # (B, H, W, 3) float in [0, 1], display-encoded
    alpha: Tensor  # (B, H, W) coverage in [0, 1]


@dataclass
class TorchCamera:
    """:class:`Camera` with tensor parameters (each () or (B,)), so gradients reach the camera.

    ``image_size``, ``projection``, ``near_m`` and ``far_m`` stay plain values.
    """

    yaw_deg: Tensor
    pitch_deg: Tensor
    distance_m: Tensor
    fov_deg: Tensor
    ortho_height_m: Tensor
    target: Tensor  # (3,) or (B, 3)
    image_size: int = 512
    projection: str = "perspective"
    near_m: float = 0.05
    far_m: float = 10.0

    @classmethod
    def from_camera(cls, camera: Camera, device: torch.device | str = "cpu", requires_grad: bool = False,
                    dtype: torch.dtype = torch.float32) -> TorchCamera:
        def tensor(value: object) -> Tensor:
            return torch.tensor(value, dtype=dtype, device=device, requires_grad=requires_grad)

        return cls(
            yaw_deg=tensor(camera.yaw_deg), pitch_deg=tensor(camera.pitch_deg), distance_m=tensor(camera.distance_m),
            fov_deg=tensor(camera.fov_deg), ortho_height_m=tensor(camera.ortho_height_m),
            target=tensor(camera.target), image_size=camera.image_size, projection=camera.projection,
            near_m=camera.near_m, far_m=camera.far_m,
        )

    def eye(self) -> Tensor:
        """(B|1, 3) camera position."""
        yaw, pitch = torch.deg2rad(self.yaw_deg), torch.deg2rad(self.pitch_deg)
        direction = torch.stack([yaw.sin() * pitch.cos(), pitch.sin() * torch.ones_like(yaw),
                                 yaw.cos() * pitch.cos()], dim=-1)
        return (self.target + self.distance_m[..., None] * direction).reshape(-1, 3)

    def view_matrix(self) -> Tensor:
        """(B|1, 4, 4) world -> camera, the same formula as :meth:`Camera.view_matrix`."""
        eye = self.eye()
        target = self.target.reshape(-1, 3).expand_as(eye)
        forward = nn.functional.normalize(target - eye, dim=-1)
        world_up = torch.tensor([0.0, 1.0, 0.0], dtype=eye.dtype, device=eye.device).expand_as(forward)
        right = nn.functional.normalize(torch.cross(forward, world_up, dim=-1), dim=-1)
        up = torch.cross(right, forward, dim=-1)
        rotation = torch.stack([right, up, -forward], dim=-2)  # (B, 3, 3)
        translation = -(rotation @ eye[..., None])[..., 0]
        view = torch.zeros(eye.shape[0], 4, 4, dtype=eye.dtype, device=eye.device)
        view[:, :3, :3], view[:, :3, 3], view[:, 3, 3] = rotation, translation, 1.0
        return view

    def projection_matrix(self) -> Tensor:
        """(B|1, 4, 4) camera -> clip space, as :meth:`Camera.projection_matrix`."""
        near, far = self.near_m, self.far_m
        if self.projection == "perspective":
            focal = 1.0 / torch.tan(torch.deg2rad(self.fov_deg) / 2).reshape(-1)
            proj = torch.zeros(focal.shape[0], 4, 4, dtype=focal.dtype, device=focal.device)
            proj[:, 0, 0] = proj[:, 1, 1] = focal
            proj[:, 2, 2] = (far + near) / (near - far)
            proj[:, 2, 3] = 2 * far * near / (near - far)
            proj[:, 3, 2] = -1.0
        else:
            scale = (2.0 / self.ortho_height_m).reshape(-1)
            proj = torch.zeros(scale.shape[0], 4, 4, dtype=scale.dtype, device=scale.device)
            proj[:, 0, 0] = proj[:, 1, 1] = scale
            proj[:, 2, 2] = -2.0 / (far - near)
            proj[:, 2, 3] = -(far + near) / (far - near)
            proj[:, 3, 3] = 1.0
        return proj


def pytorch3d_cameras(camera: Camera, device: torch.device | str = "cpu"):
    """The pytorch3d camera equivalent to ``camera`` (for code that wants pytorch3d's camera API).

    pytorch3d's view space is OpenGL's rotated 180° about Y (+X left, +Z forward), and it uses row
    vectors: ``X_view = X_world @ R + T``.
    """
    view = camera.view_matrix()
    flip = np.diag([-1.0, 1.0, -1.0])
    rotation = torch.tensor((flip @ view[:3, :3]).T, dtype=torch.float32, device=device)[None]
    translation = torch.tensor(flip @ view[:3, 3], dtype=torch.float32, device=device)[None]
    if camera.projection == "perspective":
        return FoVPerspectiveCameras(znear=camera.near_m, zfar=camera.far_m, fov=camera.fov_deg, aspect_ratio=1.0,
                                     R=rotation, T=translation, device=device)
    half = camera.ortho_height_m / 2
    return FoVOrthographicCameras(znear=camera.near_m, zfar=camera.far_m, min_x=-half, max_x=half, min_y=-half,
                                  max_y=half, R=rotation, T=translation, device=device)


class DiffRenderer(nn.Module):
    """Batched differentiable renderer of a head's drawn triangles (or ``face_subset``)."""

    def __init__(self, head: HeadModel, image_size: int = 256, config: DiffRendererConfig | None = None,
                 device: torch.device | str = "cpu", face_subset: np.ndarray | Tensor | None = None) -> None:
        super().__init__()
        if image_size < 1:
            raise DiffRenderError(f"image_size must be positive, got {image_size}")
        self.config = config or DiffRendererConfig()
        self.image_size = int(image_size)
        self.n_vertices = int(head.n_vertices)
        if isinstance(face_subset, Tensor):
            face_subset = face_subset.cpu().numpy()
        if face_subset is not None:
            face_subset = np.asarray(face_subset)
            if face_subset.dtype == bool:
                face_subset = face_subset & head.render_faces.cpu().numpy()
            if not face_subset.any() if face_subset.dtype == bool else len(face_subset) == 0:
                raise DiffRenderError("face_subset selects no triangles")
        split = build_split_mesh(head, build_texture_atlas(head), face_subset)
        self.register_buffer("faces", torch.from_numpy(split.faces), persistent=False)  # (T, 3) head vertices
        self.register_buffer("split_triangles", torch.from_numpy(split.triangles.astype(np.int64)),
                             persistent=False)
        self.register_buffer("split_uvs", torch.from_numpy(split.uvs), persistent=False)
        self.to(device)

    # -- geometry ------------------------------------------------------------------------------
    def _camera_tensors(self, camera: Camera | TorchCamera, vertices: Tensor) -> tuple[TorchCamera, Tensor, Tensor]:
        """(camera, view (B|1, 4, 4), projection (B|1, 4, 4)) on ``vertices``' device and dtype."""
        if isinstance(camera, Camera):
            camera = TorchCamera.from_camera(camera, device=vertices.device, dtype=vertices.dtype)
        if camera.image_size != self.image_size:
            raise DiffRenderError(
                f"camera.image_size is {camera.image_size} but this renderer was built for {self.image_size}"
            )
        return camera, camera.view_matrix().to(vertices), camera.projection_matrix().to(vertices)

    def _rasterize(self, vertices: Tensor, view: Tensor, projection: Tensor) -> Fragments:
        batch = vertices.shape[0]
        homogeneous = torch.cat([vertices, torch.ones_like(vertices[..., :1])], dim=-1)
        in_camera = homogeneous @ view.transpose(-1, -2)
        clip = in_camera @ projection.transpose(-1, -2)
        ndc = clip[..., :2] / clip[..., 3:4]
        # pytorch3d NDC: +X left, +Y up; z = view-space depth in front of the camera (as MeshRasterizer).
        screen = torch.stack([-ndc[..., 0], ndc[..., 1], -in_camera[..., 2]], dim=-1)
        cfg = self.config
        tile = cfg.cpu_tile_size
        if vertices.is_cuda or tile == 0 or tile >= self.image_size:
            meshes = Meshes(verts=list(screen), faces=[self.faces] * batch)
            return self._rasterize_meshes(meshes, self.image_size, cfg.blur_radius)
        return self._rasterize_tiled(screen, tile)

    def _rasterize_meshes(self, meshes: Meshes, image_size: int, blur_radius: float) -> Fragments:
        cfg = self.config
        pix_to_face, zbuf, bary, dists = rasterize_meshes(
            meshes,
            image_size=image_size,
            blur_radius=blur_radius,
            faces_per_pixel=cfg.faces_per_pixel,
            bin_size=cfg.bin_size if meshes.device.type == "cuda" else 0,
            max_faces_per_bin=cfg.max_faces_per_bin,
            perspective_correct=cfg.perspective_correct,
            cull_backfaces=cfg.cull_backfaces,
        )
        return Fragments(pix_to_face=pix_to_face, zbuf=zbuf, bary_coords=bary, dists=dists)

    def _rasterize_tiled(self, screen: Tensor, tile: int) -> Fragments:
        """Rasterise tile by tile, each with the triangles whose NDC bounding box reaches it.

        A tile at pixel origin (r0, c0) is the NDC affine map ``y' = s*y + 1 - s + 2*r0/tile`` (same
        for x with c0), s = size/tile; squared NDC distances scale by s^2, so blur and dists do too.
        Same result as the untiled call (up to float rounding), much faster on CPU.
        """
        size, batch, k = self.image_size, screen.shape[0], self.config.faces_per_pixel
        n_faces = self.faces.shape[0]
        scale = size / tile
        margin = 2.0 / size + (self.config.blur_radius ** 0.5)  # one pixel plus the blur reach, in NDC
        corners = screen.detach()[:, self.faces]  # (B, T, 3, 3)
        lower, upper = corners[..., :2].amin(dim=2), corners[..., :2].amax(dim=2)  # (B, T, 2) [x, y]
        pix_to_face = screen.new_full((batch, size, size, k), -1, dtype=torch.int64)
        zbuf = screen.new_full((batch, size, size, k), -1.0)
        bary = screen.new_full((batch, size, size, k, 3), -1.0)
        dists = screen.new_full((batch, size, size, k), -1.0)
        n_tiles = -(-size // tile)
        for row in range(n_tiles):
            for col in range(n_tiles):
                r0, c0 = row * tile, col * tile
                # Global NDC range of this tile (x is +1 at column 0: pytorch3d's +X left).
                y_hi, y_lo = 1.0 - 2.0 * r0 / size, 1.0 - 2.0 * (r0 + tile) / size
                x_hi, x_lo = 1.0 - 2.0 * c0 / size, 1.0 - 2.0 * (c0 + tile) / size
                hits = ((upper[..., 0] >= x_lo - margin) & (lower[..., 0] <= x_hi + margin)
                        & (upper[..., 1] >= y_lo - margin) & (lower[..., 1] <= y_hi + margin))  # (B, T)
                if not bool(hits.any()):
                    continue
                face_ids = [hits[b].nonzero()[:, 0] for b in range(batch)]
                offset = screen.new_tensor([1.0 - scale + 2.0 * c0 / tile, 1.0 - scale + 2.0 * r0 / tile, 0.0])
                factor = screen.new_tensor([scale, scale, 1.0])
                meshes = Meshes(verts=list(screen * factor + offset),
                                faces=[self.faces[ids] for ids in face_ids])
                frag = self._rasterize_meshes(meshes, tile, self.config.blur_radius * scale**2)
                # Local packed face index -> global packed index (b * T + face id).
                global_ids = torch.cat([ids + b * n_faces for b, ids in enumerate(face_ids)])
                local = frag.pix_to_face
                valid = local >= 0
                remapped = torch.where(valid, global_ids[local.clamp_min(0)], local)
                h, w = min(tile, size - r0), min(tile, size - c0)
                window = (slice(None), slice(r0, r0 + h), slice(c0, c0 + w))
                pix_to_face[window] = remapped[:, :h, :w]
                zbuf[window] = frag.zbuf[:, :h, :w]
                bary[window] = frag.bary_coords[:, :h, :w]
                dists[window] = torch.where(valid, frag.dists / scale**2, frag.dists)[:, :h, :w]
        return Fragments(pix_to_face=pix_to_face, zbuf=zbuf, bary_coords=bary, dists=dists)

    def vertex_normals(self, vertices: Tensor) -> Tensor:
        """(B, V, 3) area-weighted unit normals over the rendered triangles (zero where unused)."""
        corners = vertices[:, self.faces]  # (B, T, 3, 3)
        face_normals = torch.cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0], dim=-1)
        normals = torch.zeros_like(vertices)
        for k in range(3):
            normals = normals.index_add(1, self.faces[:, k], face_normals)
        return nn.functional.normalize(normals, dim=-1, eps=1e-12)

    def _vertex_lighting(self, vertices: Tensor, lighting: Lighting, eye: Tensor, to_camera: Tensor,
                         orthographic: bool) -> tuple[Tensor, Tensor]:
        """Per-vertex (diffuse, highlight) (B, V, 3), exactly as the GL vertex shader."""
        normals = self.vertex_normals(vertices)
        to_eye = (to_camera[:, None, :].expand_as(vertices) if orthographic
                  else nn.functional.normalize(eye[:, None, :] - vertices, dim=-1))
        facing = (normals * to_eye).sum(-1, keepdim=True)
        normals = torch.where(facing < 0, -normals, normals)
        diffuse = torch.as_tensor(lighting.ambient, dtype=vertices.dtype, device=vertices.device).expand_as(vertices)
        highlight = torch.zeros_like(vertices)
        for light in lighting.lights:
            direction = torch.as_tensor(light.direction, dtype=vertices.dtype, device=vertices.device)
            norm = direction.norm()
            if float(norm) == 0.0:
                raise DiffRenderError("lighting: a light direction is the zero vector")
            direction = direction / norm
            color = torch.as_tensor(light.color, dtype=vertices.dtype, device=vertices.device) * light.intensity
            lambert = (normals @ direction).clamp_min(0.0)[..., None]
            diffuse = diffuse + lambert * color
            half = nn.functional.normalize(direction + to_eye, dim=-1)
            n_dot_h = (normals * half).sum(-1, keepdim=True).clamp(1e-6, 1.0)
            highlight = highlight + torch.where(lambert > 0, n_dot_h.pow(self.config.shininess), 0.0) * color
        return diffuse, highlight

    # -- forward -------------------------------------------------------------------------------
    def forward(self, vertices: Tensor, albedo: Tensor, camera: Camera | TorchCamera, lighting: Lighting | None = None,
                background: Background | Tensor | None = None, specular_map: Tensor | None = None) -> RenderOutput:
        """Render (B, V, 3) vertices with (B|1, Ht, Wt, 3) albedo in [0, 1] (atlas layout).

        ``background``: a :class:`Background`, an image tensor (B|1, H, W, 3) in [0, 1], or None (black).
        ``specular_map``: optional (B|1, Ht, Wt) in [0, 1], scaling the specular term per texel.
        """
        vertices, albedo = self._check_inputs(vertices, albedo)
        lighting = lighting or Lighting()
        batch = vertices.shape[0]
        torch_camera, view, projection = self._camera_tensors(camera, vertices)
        view, projection = view.expand(batch, 4, 4), projection.expand(batch, 4, 4)
        fragments = self._rasterize(vertices, view, projection)

        eye = torch_camera.eye().to(vertices).expand(batch, 3)
        to_camera = nn.functional.normalize(eye - torch_camera.target.reshape(-1, 3).to(vertices), dim=-1)
        orthographic = torch_camera.projection == "orthographic"
        diffuse, highlight = self._vertex_lighting(vertices, lighting, eye, to_camera, orthographic)
        faces_packed = (self.faces[None] + self.n_vertices * torch.arange(batch, device=vertices.device)[:, None, None])
        faces_packed = faces_packed.reshape(-1, 3)
        shading = torch.cat([diffuse, highlight], dim=-1).reshape(-1, 6)[faces_packed]  # (B*T, 3, 6)
        shading = interpolate_face_attributes(fragments.pix_to_face, fragments.bary_coords, shading)

        maps = albedo.expand(batch, -1, -1, -1)
        if specular_map is not None:
            maps = torch.cat([maps, specular_map.to(maps)[..., None].expand(batch, -1, -1, -1)], dim=-1)
        textures = TexturesUV(
            maps=maps, faces_uvs=[self.split_triangles] * batch, verts_uvs=[self.split_uvs] * batch,
            align_corners=False, padding_mode="border",
        )
        texels = textures.sample_textures(fragments)  # (B, H, W, K, C)
        linear_albedo = texels[..., :3] * texels[..., :3]
        spec_scale = self.config.specular * (texels[..., 3:4] if specular_map is not None else 1.0)
        color = linear_albedo * shading[..., :3] + spec_scale * shading[..., 3:]
        color = color.clamp(1e-8, 1.0).sqrt()  # gamma-2 encode, like the GL fragment shader

        background_image = self._background(background, vertices)
        return self._blend(color, fragments, background_image, torch_camera.near_m, torch_camera.far_m)

    def _check_inputs(self, vertices: Tensor, albedo: Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(vertices, Tensor) or vertices.ndim != 3 or vertices.shape[1:] != (self.n_vertices, 3):
            shape = tuple(vertices.shape) if hasattr(vertices, "shape") else type(vertices).__name__
            raise DiffRenderError(f"vertices: expected a (B, {self.n_vertices}, 3) tensor, got {shape}")
        if not isinstance(albedo, Tensor) or albedo.ndim != 4 or albedo.shape[-1] != 3:
            shape = tuple(albedo.shape) if hasattr(albedo, "shape") else type(albedo).__name__
            raise DiffRenderError(f"albedo: expected a (B, Ht, Wt, 3) tensor in [0, 1], got {shape}")
        if albedo.shape[0] not in (1, vertices.shape[0]):
            raise DiffRenderError(f"albedo batch {albedo.shape[0]} does not match vertices batch {vertices.shape[0]}")
        return vertices, albedo.to(vertices)

    def _background(self, background: Background | Tensor | None, vertices: Tensor) -> Tensor:
        size, batch = self.image_size, vertices.shape[0]
        if background is None:
            return vertices.new_zeros(1, size, size, 3).expand(batch, -1, -1, -1)
        if isinstance(background, Background):
            if background.image is None:
                color = torch.as_tensor(background.color, dtype=vertices.dtype, device=vertices.device)
                return color.expand(batch, size, size, 3)
            image = torch.as_tensor(np.asarray(background.image), device=vertices.device).to(vertices.dtype) / 255.0
            background = image[None]
        if background.ndim != 4 or background.shape[-1] != 3:
            raise DiffRenderError(f"background: expected a (B, H, W, 3) tensor, got {tuple(background.shape)}")
        if background.shape[1:3] != (size, size):
            background = nn.functional.interpolate(
                background.permute(0, 3, 1, 2), size=(size, size), mode="bilinear", align_corners=False
            ).permute(0, 2, 3, 1)
        return background.to(vertices).expand(batch, -1, -1, -1)

    def _blend(self, color: Tensor, fragments: Fragments, background: Tensor, znear: float,
               zfar: float) -> RenderOutput:
        """Hard z-buffer composite (1 face/pixel, no blur) or pytorch3d's soft sigmoid/softmax blend."""
        covered = fragments.pix_to_face >= 0  # (B, H, W, K)
        cfg = self.config
        if cfg.faces_per_pixel == 1 and cfg.blur_radius == 0.0:
            alpha = covered[..., 0].to(color.dtype)
            image = torch.where(covered[..., :1], color[..., 0, :], background)
            return RenderOutput(image=image, alpha=alpha)
        # As pytorch3d.renderer.blending.softmax_rgb_blend, with a per-pixel background.
        prob = torch.sigmoid(-fragments.dists / cfg.sigma) * covered
        alpha = 1.0 - torch.prod(1.0 - prob, dim=-1)
        z_inv = (zfar - fragments.zbuf) / (zfar - znear) * covered
        z_inv_max = torch.max(z_inv, dim=-1, keepdim=True).values.clamp(min=1e-10)
        weights = prob * torch.exp((z_inv - z_inv_max) / cfg.gamma)
        delta = torch.exp((1e-10 - z_inv_max) / cfg.gamma).clamp(min=1e-10)
        denominator = weights.sum(dim=-1, keepdim=True) + delta
        rgb = ((weights[..., None] * color).sum(dim=-2) + delta * background) / denominator
        return RenderOutput(image=rgb, alpha=alpha)


def albedo_tensor(albedo: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """(Ht, Wt, 3) uint8 Material.albedo -> (1, Ht, Wt, 3) float in [0, 1]."""
    return torch.as_tensor(np.asarray(albedo), device=device).float().div(255.0)[None]

