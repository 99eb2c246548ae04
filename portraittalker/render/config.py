"""Renderer settings (``render.gl``, ``render.diff``, ``synth.renderer``), pydantic only: no GL or torch."""

from __future__ import annotations

from pydantic import BaseModel, Field


class GLRendererConfig(BaseModel):
    msaa_samples: int | None = Field(
        None, ge=0, le=16, description="MSAA samples; None: 4 on hardware GPUs, off on llvmpipe (it costs ~2.5x there)"
    )
    anisotropy: float | None = Field(
        None, ge=1.0, description="anisotropic texture filtering; None: 8 on hardware GPUs, 1 on llvmpipe (slow there)"
    )
    check_camera_size: bool = Field(True, description="raise if camera.image_size differs from the renderer's")
    lanes: int = Field(
        2, ge=1, le=8, description="generation: GL contexts, each in its own thread, drawing alternate frames "
        "(render/lanes.py; on llvmpipe one bins a frame while another's is rasterised)"
    )
    prefetch_frames: int = Field(
        96, ge=1, description="generation: frames whose vertex attributes a worker computes ahead of the lanes "
        "(render/prefetch.py; ~0.65 MB each for the ICT head), filled while the avatar's textures are painted"
    )


class DiffRendererConfig(BaseModel):
    blur_radius: float = Field(0.0, ge=0.0, description="NDC^2 blur of triangle edges; > 0 gives silhouette gradients")
    faces_per_pixel: int = Field(1, ge=1, description="faces kept per pixel (soft blending needs > 1)")
    sigma: float = Field(1e-5, gt=0.0, description="soft-silhouette sharpness (pytorch3d BlendParams.sigma)")
    gamma: float = Field(1e-4, gt=0.0, description="depth softmax temperature (pytorch3d BlendParams.gamma)")
    perspective_correct: bool = True
    cull_backfaces: bool = False
    bin_size: int | None = Field(None, description="pytorch3d coarse-raster bin size (CUDA only; None: heuristic)")
    cpu_tile_size: int = Field(
        32, ge=0, description="on CPU, rasterise in tiles of this many pixels, each with only the triangles "
        "overlapping it (pytorch3d's CPU rasteriser is naive: cost ~ pixels x triangles); 0 disables tiling"
    )
    max_faces_per_bin: int | None = None
    specular: float = Field(0.25, ge=0.0, description="Blinn-Phong specular weight (as Material.specular)")
    shininess: float = Field(24.0, gt=0.0, description="Blinn-Phong exponent (as Material.shininess)")
