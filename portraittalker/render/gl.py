"""Fast offscreen OpenGL renderer (moderngl + EGL) for final video frames.

Design for speed (llvmpipe on CPU nodes, the NVIDIA driver on GPU nodes):
- Static topology (split (vertex, atlas-UV) layout, texture coordinates, index buffer) is uploaded once.
- Per frame one (S, 6) float32 position+normal array goes up; normals come from a precomputed
  sparse face->vertex incidence product (~3 ms in numpy). In :meth:`GLRenderer.render_sequence` a worker
  thread computes the next frame's array while this thread draws and reads back the current one.
- The two long GL calls of a frame, the draw (llvmpipe's vertex work and binning, ~8 ms on the calling thread) and
  the read-back (which waits for the rasterisation), go through ``ctypes`` (:class:`_ReleasingGL`), which releases
  the GIL while they run; moderngl holds it. So the attribute worker, the deformation and the encoder threads run
  beside them instead of waiting (200 frames at 512² with encoding: 6.29 -> 5.69 s here, identical frames).
- Lighting (Lambert + Blinn-Phong, two-sided) is evaluated per vertex; the fragment shader is one
  texture fetch (albedo rgb + specular map in alpha) and a gamma-2 encode. Fragments dominate
  llvmpipe's cost, and on this dense mesh (triangles ~2-4 px at 512^2) per-vertex lighting looks the same.
- The projection flips clip-space Y, so glReadPixels returns rows top-first: frames are read straight
  into a freshly allocated (H, W, 3) uint8 array, without a flip or extra copy.
- Depth test; MSAA on hardware GPUs (off by default on llvmpipe, where it costs ~2.5x).
- A background image is drawn once per :meth:`GLRenderer.set_appearance` into its own framebuffer and copied
  into each frame (a framebuffer blit, colour and depth), instead of re-shading a full-screen quad every frame:
  3-6 ms of CPU per 512^2 frame here (noisy), bit-identical frames. With MSAA (a blit cannot write a multisampled
  target) the quad is drawn per frame.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.render.config import GLRendererConfig
from portraittalker.render.mesh import (
    SplitMesh,
    SplitVertexAttributes,
    TextureAtlas,
    build_split_mesh,
    build_texture_atlas,
)
from portraittalker.render.scene import Background, Camera, Lighting, Material

if TYPE_CHECKING:
    from portraittalker.head.params import HeadLike

MAX_LIGHTS = 4
EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri"

_GL_TRIANGLES = 0x0004
_GL_UNSIGNED_INT = 0x1405
_GL_PACK_ALIGNMENT = 0x0D05
_GL_UNPACK_ALIGNMENT = 0x0CF5
_GL_RGB = 0x1907
_GL_UNSIGNED_BYTE = 0x1401
_GL_COLOR_ATTACHMENT0 = 0x8CE0
_GL_TEXTURE_2D = 0x0DE1
_GL_RGBA = 0x1908
_GL_RGBA8 = 0x8058


class RenderError(PortraitTalkerError, RuntimeError):
    """Rendering failed or was given unusable input."""


class EGLUnavailableError(RenderError):
    """No headless OpenGL (EGL) context could be created."""


# Lambert + Blinn-Phong, two-sided, evaluated per vertex: indistinguishable from per-pixel lighting
# on this dense mesh (triangles are ~2-4 px at 512^2) and it keeps the fragment shader at one texture
# fetch, which matters because llvmpipe's cost is dominated by fragments.
_MESH_VERTEX_SHADER = """
#version 330
uniform mat4 view_projection;
uniform vec3 eye;            // camera position (perspective)
uniform vec3 view_direction; // unit vector from the scene towards the camera (orthographic)
uniform bool orthographic;
uniform vec3 ambient;
uniform int n_lights;
uniform vec3 light_directions[4];  // unit, from the scene towards the light
uniform vec3 light_colors[4];      // colour * intensity
uniform float shininess;
in vec3 position;
in vec3 normal;  // unnormalised (area-weighted sum of face normals)
in vec2 st;
out vec3 v_diffuse;
out vec3 v_highlight;
out vec2 v_st;

void main() {
    vec3 to_eye = orthographic ? view_direction : normalize(eye - position);
    float len = length(normal);
    vec3 n = len > 0.0 ? normal / len : to_eye;
    if (dot(n, to_eye) < 0.0) n = -n;  // two-sided: the mouth interior and open borders face the viewer
    vec3 diffuse = ambient;
    vec3 highlight = vec3(0.0);
    for (int i = 0; i < n_lights; ++i) {
        float lambert = max(dot(n, light_directions[i]), 0.0);
        diffuse += lambert * light_colors[i];
        if (lambert > 0.0) {
            vec3 h = normalize(light_directions[i] + to_eye);
            highlight += pow(max(dot(n, h), 0.0), shininess) * light_colors[i];
        }
    }
    v_diffuse = diffuse;
    v_highlight = highlight;
    v_st = st;
    gl_Position = view_projection * vec4(position, 1.0);
}
"""

# Linear-light shading with a gamma-2 approximation of sRGB (square to decode, sqrt to encode):
# close enough to look natural and much cheaper than pow() per fragment.
_MESH_FRAGMENT_SHADER = """
#version 330
uniform sampler2D surface_map;  // rgb: albedo (display-encoded), a: specular-map scale
uniform float specular;
in vec3 v_diffuse;
in vec3 v_highlight;
in vec2 v_st;
out vec4 frag_color;

void main() {
    vec4 surface = texture(surface_map, v_st);
    vec3 color = surface.rgb * surface.rgb * v_diffuse + (specular * surface.a) * v_highlight;
    frag_color = vec4(sqrt(min(color, vec3(1.0))), 1.0);
}
"""

_BACKGROUND_VERTEX_SHADER = """
#version 330
in vec2 corner;
out vec2 st;
void main() {
    st = vec2(0.5 * corner.x + 0.5, 0.5 - 0.5 * corner.y);  // image row 0 at the top
    gl_Position = vec4(corner.x, -corner.y, 0.0, 1.0);      // same Y flip as the mesh
}
"""

_BACKGROUND_FRAGMENT_SHADER = """
#version 330
uniform sampler2D image;
in vec2 st;
out vec4 frag_color;
void main() { frag_color = vec4(texture(image, st).rgb, 1.0); }
"""

# Flip clip-space Y so the framebuffer's first row is the image's top row.
_FLIP_Y = np.diag([1.0, -1.0, 1.0, 1.0])


@functools.cache
def _gl_library(soname: str, name: str) -> str | None:
    """``soname`` if it loads (GLVND's names), else what ``ctypes.util.find_library(name)`` finds. find_library runs
    ``ldconfig -p`` in a subprocess, and glcontext called it twice per context: 7 times in every ``generate``."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return ctypes.util.find_library(name)
    return soname


def create_egl_context():  # -> moderngl.Context
    try:
        import moderngl
    except ImportError as exc:  # pragma: no cover - moderngl is a hard dependency
        raise EGLUnavailableError("moderngl is not installed (pip install moderngl)") from exc
    # glcontext looks the libraries up itself when not given them; its GLCONTEXT_LINUX_LIB* variables still win.
    libraries = {"libgl": _gl_library("libGL.so.1", "GL"), "libegl": _gl_library("libEGL.so.1", "EGL")}
    try:
        return moderngl.create_standalone_context(
            backend="egl", require=330, **{key: value for key, value in libraries.items() if value})
    except Exception as exc:
        raise EGLUnavailableError(
            f"could not create a headless OpenGL 3.3 context through EGL ({exc}). Install the EGL/Mesa "
            f"runtime: `apt-get install {EGL_PACKAGES}` (Debian/Ubuntu); on NVIDIA nodes the driver's EGL "
            "library (libEGL_nvidia) must be visible."
        ) from exc


class _ReleasingGL:
    """The GL entry points a frame spends its time in, called through ``ctypes`` (which releases the GIL).

    They come from GLVND's ``libOpenGL.so.0``, which dispatches to the calling thread's current context, the one
    moderngl made. The state they rely on (bound framebuffer, texture unit) is set through moderngl first.
    """

    def __init__(self) -> None:
        library = ctypes.CDLL(_gl_library("libOpenGL.so.0", "OpenGL") or "libOpenGL.so.0")
        c_uint, c_int, c_void_p = ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
        self.use_program = library.glUseProgram
        self.use_program.argtypes, self.use_program.restype = [c_uint], None
        self.bind_vertex_array = library.glBindVertexArray
        self.bind_vertex_array.argtypes, self.bind_vertex_array.restype = [c_uint], None
        self.draw_elements = library.glDrawElements
        self.draw_elements.argtypes, self.draw_elements.restype = [c_uint, c_int, c_uint, c_void_p], None
        self.read_buffer = library.glReadBuffer
        self.read_buffer.argtypes, self.read_buffer.restype = [c_uint], None
        self.pixel_store = library.glPixelStorei
        self.pixel_store.argtypes, self.pixel_store.restype = [c_uint, c_int], None
        self.read_pixels = library.glReadPixels
        self.read_pixels.argtypes = [c_int, c_int, c_int, c_int, c_uint, c_uint, c_void_p]
        self.read_pixels.restype = None
        self.bind_texture = library.glBindTexture
        self.bind_texture.argtypes, self.bind_texture.restype = [c_uint, c_uint], None
        self.tex_image_2d = library.glTexImage2D
        self.tex_image_2d.argtypes = [c_uint, c_int, c_int, c_int, c_int, c_int, c_uint, c_uint, c_void_p]
        self.tex_image_2d.restype = None

    @classmethod
    def load(cls) -> _ReleasingGL | None:
        try:
            return cls()
        except (OSError, AttributeError):  # no GLVND: moderngl's own calls (same frames, GIL held)
            return None


def mesa_mipmaps(image: np.ndarray) -> list[np.ndarray]:
    """The mipmap chain llvmpipe's ``glGenerateMipmap`` makes of a square power-of-two (N, N, C) uint8 image.

    Each level averages horizontal pairs of the level above, rounding half up, then vertical pairs of those: the
    same texels Mesa's blit gives (a test compares every level), without the ~0.17 s its shader compile costs in
    every new context.
    """
    levels = [image]
    while levels[-1].shape[0] > 1:
        wide = levels[-1].astype(np.uint16)
        pairs = (wide[:, 0::2] + wide[:, 1::2] + 1) >> 1
        levels.append(((pairs[0::2] + pairs[1::2] + 1) >> 1).astype(np.uint8))
    return levels


def _as_rgb_uint8(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.shape[0] < 1 or image.shape[1] < 1:
        raise RenderError(f"{name}: expected an (H, W, 3) image, got shape {image.shape}")
    if image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.floating):
            raise RenderError(f"{name}: expected uint8 or float in [0, 1], got dtype {image.dtype}")
        image = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[:, :, :3])


def _surface_image(material: Material) -> np.ndarray:
    """(H, W, 4) uint8: the albedo, and the specular map in the alpha channel (one texture fetch per fragment)."""
    albedo = _as_rgb_uint8(material.albedo, "material.albedo")
    surface = np.empty((*albedo.shape[:2], 4), dtype=np.uint8)
    surface[:, :, :3] = albedo
    if material.specular_map is not None:
        spec = np.asarray(material.specular_map, dtype=np.float32)
        if spec.ndim != 2:
            raise RenderError(f"material.specular_map: expected an (H, W) map, got shape {spec.shape}")
        if spec.shape != albedo.shape[:2]:
            import cv2

            spec = cv2.resize(spec, (albedo.shape[1], albedo.shape[0]), interpolation=cv2.INTER_LINEAR)
        surface[:, :, 3] = np.clip(np.round(spec * 255.0), 0, 255).astype(np.uint8)
    else:
        surface[:, :, 3] = 255
    return surface


class GLRenderer:
    """Renders (V, 3) head vertices to (H, W, 3) uint8 frames; see the module docstring."""

    def __init__(self, head: HeadLike, image_size: int = 512, config: GLRendererConfig | None = None, *,
                 topology: tuple[TextureAtlas, SplitMesh] | None = None) -> None:
        """``topology``: another renderer's ``(atlas, split)`` for the same head, instead of building them again."""
        if image_size < 1:
            raise RenderError(f"image_size must be positive, got {image_size}")
        self.config = config or GLRendererConfig()
        self.image_size = int(image_size)
        self.n_vertices = int(head.n_vertices)
        if topology is None:
            atlas = build_texture_atlas(head)
            topology = atlas, build_split_mesh(head, atlas)
        self.atlas: TextureAtlas = topology[0]
        self.split: SplitMesh = topology[1]
        self.ctx = create_egl_context()
        self._build_pipeline()
        self._framebuffers(self.image_size)
        # Until set_appearance is called: light grey clay under the default lights.
        self.set_appearance(Material(albedo=np.full((4, 4, 3), 200, np.uint8)), Lighting(), Background())

    # -- setup ---------------------------------------------------------------------------------
    def _build_pipeline(self) -> None:
        ctx, split = self.ctx, self.split
        self.mesh_program = ctx.program(vertex_shader=_MESH_VERTEX_SHADER, fragment_shader=_MESH_FRAGMENT_SHADER)
        self.background_program = ctx.program(
            vertex_shader=_BACKGROUND_VERTEX_SHADER, fragment_shader=_BACKGROUND_FRAGMENT_SHADER
        )
        self.attributes = SplitVertexAttributes(split)
        self._attribute_rows = np.empty((len(split.vertex_ids), 6), np.float32)
        self._next_rows = np.empty_like(self._attribute_rows)  # filled by the attribute worker meanwhile
        self._attribute_worker = None
        self._gl = _ReleasingGL.load()
        self.attribute_buffer = ctx.buffer(reserve=self._attribute_rows.nbytes, dynamic=True)
        # Texture rows are uploaded top-first and UVs have v up, so sample at (u, 1 - v).
        st = np.stack([split.uvs[:, 0], 1.0 - split.uvs[:, 1]], axis=1).astype(np.float32)
        self.st_buffer = ctx.buffer(st.tobytes())
        self.index_buffer = ctx.buffer(split.triangles.astype(np.int32).tobytes())
        self.mesh_vao = ctx.vertex_array(
            self.mesh_program,
            [(self.attribute_buffer, "3f 3f", "position", "normal"), (self.st_buffer, "2f", "st")],
            self.index_buffer,
            4,
        )
        quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype=np.float32)
        self.quad_buffer = ctx.buffer(quad.tobytes())
        self.background_vao = ctx.vertex_array(self.background_program, [(self.quad_buffer, "2f", "corner")])
        self.mesh_program["surface_map"].value = 0
        self.background_program["image"].value = 1

    def _framebuffers(self, size: int) -> None:
        ctx = self.ctx
        self.software = any(name in ctx.info["GL_RENDERER"].lower() for name in ("llvmpipe", "softpipe", "swrast"))
        requested = self.config.msaa_samples
        if requested is None:
            requested = 0 if self.software else 4
        samples = min(requested, ctx.max_samples) if requested > 1 else 0
        self.resolve_fbo = ctx.framebuffer(
            color_attachments=[ctx.renderbuffer((size, size), 3)],
            depth_attachment=ctx.depth_renderbuffer((size, size)) if samples == 0 else None,
        )
        if samples:
            self.draw_fbo = ctx.framebuffer(
                color_attachments=[ctx.renderbuffer((size, size), 3, samples=samples)],
                depth_attachment=ctx.depth_renderbuffer((size, size), samples=samples),
            )
        else:
            self.draw_fbo = self.resolve_fbo
        self.samples = samples
        self.anisotropy = self.config.anisotropy or (1.0 if self.software else 8.0)

    def _texture(self, image: np.ndarray, mipmaps: bool, levels: list[np.ndarray] | None = None):
        """``levels``: the image's mipmaps (:meth:`surface_texture`), uploaded instead of generated."""
        import moderngl

        texture = self.ctx.texture((image.shape[1], image.shape[0]), image.shape[2], image.tobytes(), alignment=1)
        texture.repeat_x = texture.repeat_y = False
        if mipmaps and levels is None and self._uploads_mipmaps(image):
            levels = mesa_mipmaps(image)[1:]
        if mipmaps and levels is not None:
            self._upload_mipmaps(texture, levels)
            texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)  # as build_mipmaps sets it
            texture.anisotropy = self.anisotropy
        elif mipmaps:
            texture.build_mipmaps()
            texture.anisotropy = self.anisotropy
        else:
            texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        return texture

    def _uploads_mipmaps(self, image: np.ndarray) -> bool:
        """Whether this renderer uploads ``image``'s mipmaps made in numpy (llvmpipe, square power-of-two RGBA)
        rather than having GL generate them."""
        size = image.shape[0]
        return self.software and self._gl is not None and image.shape[:3] == (size, size, 4) and size & (size - 1) == 0

    def _upload_mipmaps(self, texture, levels: list[np.ndarray]) -> None:
        """Levels 1.. of an RGBA texture (moderngl writes only levels it generated itself)."""
        self._gl.bind_texture(_GL_TEXTURE_2D, texture.glo)
        self._gl.pixel_store(_GL_UNPACK_ALIGNMENT, 1)
        for level, pixels in enumerate(levels, start=1):
            pixels = np.ascontiguousarray(pixels)
            self._gl.tex_image_2d(_GL_TEXTURE_2D, level, _GL_RGBA8, pixels.shape[1], pixels.shape[0], 0, _GL_RGBA,
                                  _GL_UNSIGNED_BYTE, pixels.ctypes.data)

    def surface_texture(self, material: Material) -> list[np.ndarray]:
        """``material`` as the one (H, W, 4) uint8 texture the shader samples, then the mipmaps this renderer
        uploads for it (none where GL makes them): what :meth:`set_appearance` uploads. Renderers of one kind take
        the same list, so :class:`~portraittalker.render.lanes.LaneRenderer` makes it once for all its lanes."""
        surface = _surface_image(material)
        return [surface, *(mesa_mipmaps(surface)[1:] if self._uploads_mipmaps(surface) else [])]

    def set_appearance(self, material: Material, lighting: Lighting, background: Background,
                       surface: list[np.ndarray] | None = None) -> None:
        """Upload the albedo (mipmapped) and specular textures, lights and the background; ``surface``: this
        ``material``'s :meth:`surface_texture`, made already."""
        surface = self.surface_texture(material) if surface is None else surface
        if len(lighting.lights) > MAX_LIGHTS:
            raise RenderError(f"lighting: at most {MAX_LIGHTS} directional lights, got {len(lighting.lights)}")
        for name in ("surface_map", "background_texture"):
            if getattr(self, name, None) is not None:
                getattr(self, name).release()
        levels = surface[1:] if self._uploads_mipmaps(surface[0]) else None
        self.surface_map = self._texture(surface[0], mipmaps=True, levels=levels)
        self.mesh_program["specular"].value = float(material.specular)
        program = self.mesh_program
        program["shininess"].value = float(material.shininess)
        program["ambient"].value = tuple(float(a) for a in lighting.ambient)
        program["n_lights"].value = len(lighting.lights)
        directions = np.zeros((MAX_LIGHTS, 3), dtype=np.float32)
        colors = np.zeros((MAX_LIGHTS, 3), dtype=np.float32)
        for i, light in enumerate(lighting.lights):
            direction = np.asarray(light.direction, dtype=np.float64)
            norm = np.linalg.norm(direction)
            if norm == 0:
                raise RenderError(f"lighting.lights[{i}].direction is the zero vector")
            directions[i] = direction / norm
            colors[i] = np.asarray(light.color, dtype=np.float64) * light.intensity
        program["light_directions"].write(directions.tobytes())
        program["light_colors"].write(colors.tobytes())
        self.background_color = tuple(float(c) for c in background.color)
        self.background_texture = None
        if background.image is not None:
            self.background_texture = self._texture(_as_rgb_uint8(background.image, "background.image"),
                                                    mipmaps=False)
        self._prerender_background()

    def _prerender_background(self) -> None:
        """Draw the background (colour, image) and a cleared depth buffer once into ``background_fbo``."""
        for item in getattr(self, "_background_objects", ()):
            item.release()
        self._background_objects: tuple = ()
        self.background_fbo = None
        if self.background_texture is None or self.samples:
            return
        size = (self.image_size, self.image_size)
        color, depth = self.ctx.renderbuffer(size, 3), self.ctx.depth_renderbuffer(size)
        self.background_fbo = self.ctx.framebuffer(color_attachments=[color], depth_attachment=depth)
        self._background_objects = (self.background_fbo, color, depth)
        self.background_fbo.use()
        self._clear_and_draw_background()

    def _clear_and_draw_background(self) -> None:
        import moderngl

        self.ctx.clear(*self.background_color, 1.0, depth=1.0)
        if self.background_texture is not None:
            self.ctx.disable(moderngl.DEPTH_TEST)
            self.background_texture.use(1)
            self.background_vao.render(moderngl.TRIANGLE_STRIP)

    # -- rendering -----------------------------------------------------------------------------
    def _set_camera(self, camera: Camera) -> None:
        if self.config.check_camera_size and camera.image_size != self.image_size:
            raise RenderError(
                f"camera.image_size is {camera.image_size} but this renderer was built for {self.image_size}"
            )
        matrix = _FLIP_Y @ camera.projection_matrix() @ camera.view_matrix()
        self.mesh_program["view_projection"].write(matrix.T.astype(np.float32).tobytes())  # column-major
        program = self.mesh_program
        program["eye"].value = tuple(float(e) for e in camera.eye)
        to_camera = camera.eye - np.asarray(camera.target, dtype=np.float64)
        program["view_direction"].value = tuple(float(d) for d in to_camera / np.linalg.norm(to_camera))
        program["orthographic"].value = camera.projection == "orthographic"

    def _check_vertices(self, vertices: np.ndarray, leading: tuple[int, ...]) -> np.ndarray:
        if hasattr(vertices, "detach"):  # a torch tensor
            vertices = vertices.detach().cpu().numpy()
        vertices = np.asarray(vertices)
        expected = (*leading, self.n_vertices, 3)
        if vertices.ndim != len(expected) or vertices.shape[len(leading):] != expected[len(leading):]:
            shape = "(N, V, 3)" if leading else "(V, 3)"
            raise RenderError(f"vertices: expected shape {shape} with V={self.n_vertices}, got {vertices.shape}")
        if not np.issubdtype(vertices.dtype, np.floating):
            raise RenderError(f"vertices: expected float metres, got dtype {vertices.dtype}")
        return np.ascontiguousarray(vertices, dtype=np.float32)

    def _draw(self, attribute_rows: np.ndarray) -> None:
        """Queue one frame; llvmpipe rasterises it in its worker threads until the read-back."""
        import moderngl

        ctx = self.ctx
        self.attribute_buffer.write(attribute_rows)
        if self.background_fbo is not None:  # colour and depth (1.0) copied from the pre-drawn background
            ctx.copy_framebuffer(self.draw_fbo, self.background_fbo)
            self.draw_fbo.use()
        else:
            self.draw_fbo.use()
            self._clear_and_draw_background()
        ctx.enable(moderngl.DEPTH_TEST)
        self.surface_map.use(0)
        if self._gl is None:
            self.mesh_vao.render(moderngl.TRIANGLES)
        else:  # what VertexArray.render does, without the GIL
            self._gl.use_program(self.mesh_program.glo)
            self._gl.bind_vertex_array(self.mesh_vao.glo)
            self._gl.draw_elements(_GL_TRIANGLES, 3 * len(self.split.triangles), _GL_UNSIGNED_INT, None)
        if self.draw_fbo is not self.resolve_fbo:
            ctx.copy_framebuffer(self.resolve_fbo, self.draw_fbo)

    def _read(self) -> np.ndarray:
        frame = np.empty((self.image_size, self.image_size, 3), dtype=np.uint8)
        if self._gl is None:
            self.resolve_fbo.read_into(frame, components=3, alignment=1)
        else:  # what Framebuffer.read_into does, without the GIL (it waits for the rasterisation)
            self.resolve_fbo.use()
            self._gl.read_buffer(_GL_COLOR_ATTACHMENT0)
            self._gl.pixel_store(_GL_PACK_ALIGNMENT, 1)
            self._gl.read_pixels(0, 0, self.image_size, self.image_size, _GL_RGB, _GL_UNSIGNED_BYTE, frame.ctypes.data)
        return frame

    def render(self, vertices: np.ndarray, camera: Camera) -> np.ndarray:
        """(V, 3) float32 metres -> (H, W, 3) uint8 frame, row 0 at the top."""
        vertices = self._check_vertices(vertices, ())
        self._set_camera(camera)
        self._draw(self.attributes(vertices, out=self._attribute_rows))
        return self._read()

    def render_attributes(self, rows: np.ndarray, camera: Camera) -> np.ndarray:
        """(S, 6) float32 ``[position, normal]`` rows of the split vertices -> frame, as :meth:`render` draws them.

        The rows are what ``SplitVertexAttributes(renderer.split)`` makes of (V, 3) vertices, computed elsewhere
        (generation computes them ahead, in their own thread: :mod:`portraittalker.render.prefetch`).
        """
        expected = (len(self.split.vertex_ids), 6)
        if not isinstance(rows, np.ndarray) or rows.shape != expected or rows.dtype != np.float32:
            raise RenderError(f"attribute rows: expected a float32 array of shape {expected}, got "
                              f"{getattr(rows, 'dtype', type(rows).__name__)} {getattr(rows, 'shape', '')}")
        self._set_camera(camera)
        self._draw(np.ascontiguousarray(rows))
        return self._read()

    def warm_up(self, vertices: np.ndarray) -> None:
        """Draw (V, 3) ``vertices`` once and discard the frame, so llvmpipe compiles the draw's shader variants now
        rather than in the first frame (~40 ms per context here)."""
        self.render(vertices, Camera(image_size=self.image_size))

    def render_sequence(self, vertices: np.ndarray, camera: Camera) -> Iterator[np.ndarray]:
        """(N, V, 3) -> N frames, lazily; the camera is set once.

        A worker thread computes the next frame's vertex attributes while this one draws and reads back the
        current frame; both GL calls release the GIL (:class:`_ReleasingGL`), so the worker and what the caller
        does with the frames (grain, encoding in its own thread) run beside them.
        """
        vertices = self._check_vertices(vertices, (len(vertices),) if hasattr(vertices, "__len__") else ())
        self._set_camera(camera)
        if len(vertices) == 0:
            return
        if self._attribute_worker is None:
            from concurrent.futures import ThreadPoolExecutor

            self._attribute_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attributes")
        rows, spare = self.attributes(vertices[0], out=self._attribute_rows), self._next_rows
        for index in range(len(vertices)):
            upcoming = None
            if index + 1 < len(vertices):  # into the other buffer: the draw below copies `rows` meanwhile
                upcoming = self._attribute_worker.submit(self.attributes, vertices[index + 1], spare)
            self._draw(rows)
            frame = self._read()
            if upcoming is not None:
                rows, spare = upcoming.result(), rows
            yield frame

    def release(self) -> None:
        """Free the GL context and the attribute worker (also happens when the renderer is garbage-collected)."""
        if getattr(self, "_attribute_worker", None) is not None:
            self._attribute_worker.shutdown()
            self._attribute_worker = None
        if getattr(self, "ctx", None) is not None:
            self.ctx.release()
            self.ctx = None

    def __enter__(self) -> GLRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
