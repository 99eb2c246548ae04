"""GLRenderer (moderngl/EGL) behaviour on the real ICT head, plus the shared mesh helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from portraittalker.head.ict import ICTFaceKit
from portraittalker.render import gl as gl_module
from portraittalker.render.gl import EGLUnavailableError, GLRenderer, RenderError
from portraittalker.render.mesh import (
    SplitVertexAttributes,
    build_split_mesh,
    build_texture_atlas,
    default_albedo,
    vertex_normals,
)
from portraittalker.render.scene import Background, Camera, DirectionalLight, Lighting, Material

SIZE = 128
BACKGROUND = (0.1, 0.2, 0.3)


@pytest.fixture(scope="module")
def head() -> ICTFaceKit:
    return ICTFaceKit()


@pytest.fixture(scope="module")
def neutral(head: ICTFaceKit) -> np.ndarray:
    with torch.no_grad():
        return head(head.neutral_params())[0].numpy()


@pytest.fixture(scope="module")
def renderer(head: ICTFaceKit) -> GLRenderer:
    renderer = GLRenderer(head, SIZE)
    yield renderer
    renderer.release()


def _grey(renderer: GLRenderer, lighting: Lighting | None = None) -> None:
    renderer.set_appearance(Material(albedo=np.full((8, 8, 3), 180, np.uint8), specular=0.0),
                            lighting or Lighting(), Background(color=BACKGROUND))


def _mask(frame: np.ndarray) -> np.ndarray:
    return np.abs(frame.astype(int) - np.round(np.array(BACKGROUND) * 255)).sum(-1) > 6


def test_frame_shape_dtype_and_background(renderer: GLRenderer, neutral: np.ndarray) -> None:
    _grey(renderer)
    frame = renderer.render(neutral, Camera(image_size=SIZE))
    assert frame.shape == (SIZE, SIZE, 3) and frame.dtype == np.uint8
    expected = np.round(np.array(BACKGROUND) * 255)
    for corner in (frame[0, 0], frame[0, -1], frame[-1, 0]):  # bottom-right may show the shoulders' edge
        np.testing.assert_allclose(corner, expected, atol=1)
    mask = _mask(frame)
    assert 0.15 < mask.mean() < 0.8
    # Head top near the top of the frame, neck at the bottom: rows are top-first.
    rows = np.nonzero(mask.any(axis=1))[0]
    assert rows[0] < SIZE * 0.25 and rows[-1] == SIZE - 1


def test_head_pixels_are_lit(renderer: GLRenderer, neutral: np.ndarray) -> None:
    camera = Camera(image_size=SIZE)
    _grey(renderer, Lighting(ambient=(0.2, 0.2, 0.2), lights=()))
    dim = renderer.render(neutral, camera).astype(float)
    _grey(renderer, Lighting(ambient=(0.2, 0.2, 0.2), lights=(DirectionalLight((1.0, 0.0, 0.3)),)))
    lit = renderer.render(neutral, camera).astype(float)
    mask = _mask(lit)
    assert lit[mask].mean() > dim[mask].mean() + 30
    # Light from +X (the subject's left = image right): the right cheek is brighter than the left one.
    centre_row = lit[SIZE // 2, :, 0]
    assert centre_row[SIZE // 2 + 15] > centre_row[SIZE // 2 - 15] + 20


def test_yaw_changes_silhouette(renderer: GLRenderer, neutral: np.ndarray) -> None:
    _grey(renderer)
    front = _mask(renderer.render(neutral, Camera(image_size=SIZE)))
    side = _mask(renderer.render(neutral, Camera(image_size=SIZE, yaw_deg=80)))
    iou = (front & side).sum() / (front | side).sum()
    assert iou < 0.85


def test_texture_colour_shows_up(renderer: GLRenderer, neutral: np.ndarray) -> None:
    albedo = np.zeros((64, 64, 3), np.uint8)
    albedo[..., 1] = 220  # pure green everywhere
    renderer.set_appearance(Material(albedo=albedo, specular=0.0), Lighting(), Background(color=(0, 0, 0)))
    frame = renderer.render(neutral, Camera(image_size=SIZE)).astype(int)
    face = frame[SIZE // 3: SIZE // 2, SIZE // 3: 2 * SIZE // 3]
    assert face[..., 1].mean() > 100 and face[..., 0].max() < 10 and face[..., 2].max() < 10


def test_atlas_texture_lands_on_the_face_cell(head: ICTFaceKit, renderer: GLRenderer, neutral: np.ndarray) -> None:
    atlas = build_texture_atlas(head)
    u0, v0, su, sv = atlas.cell_of_component(0).rect  # the face component's cell
    albedo = np.zeros((256, 256, 3), np.uint8)
    rows = slice(int((1 - v0 - sv) * 256), int((1 - v0) * 256))
    albedo[rows, int(u0 * 256): int((u0 + su) * 256), 0] = 230  # face cell red, everything else black
    renderer.set_appearance(Material(albedo=albedo, specular=0.0), Lighting(), Background(color=(0, 0, 0)))
    frame = renderer.render(neutral, Camera(image_size=SIZE)).astype(int)
    cheek = frame[SIZE // 2, SIZE // 2 + 12]
    assert cheek[0] > 100 and cheek[1] < 5
    back = renderer.render(neutral, Camera(image_size=SIZE, yaw_deg=180)).astype(int)
    assert back[SIZE // 2, SIZE // 2, 0] < 5  # the back of the head is in the head/neck cell


def test_open_jaw_changes_mouth_pixels(head: ICTFaceKit, renderer: GLRenderer) -> None:
    renderer.set_appearance(Material(albedo=default_albedo(head, 256)), Lighting(), Background())
    camera = Camera(image_size=SIZE)
    closed = head.neutral_params()
    opened = head.neutral_params()
    opened.jaw[0, 0] = 0.25
    with torch.no_grad():
        closed_v, open_v = head(closed)[0], head(opened)[0]
    mouth = camera.project(closed_v[head.landmarks68[48:68]]).numpy()
    (x0, y0), (x1, y1) = mouth.min(0).astype(int) - 2, mouth.max(0).astype(int) + 6
    closed_frame = renderer.render(closed_v.numpy(), camera).astype(int)
    open_frame = renderer.render(open_v.numpy(), camera).astype(int)
    changed = np.abs(open_frame - closed_frame).sum(-1) > 30
    assert changed[y0:y1, x0:x1].mean() > 0.2
    # The open mouth shows the dark interior: the mouth region gets darker.
    assert open_frame[y0:y1, x0:x1].mean() < closed_frame[y0:y1, x0:x1].mean() - 10
    # Far from the mouth (the forehead) nothing changes.
    assert not changed[: SIZE // 4].any()


def test_background_image(renderer: GLRenderer, neutral: np.ndarray) -> None:
    image = np.zeros((32, 48, 3), np.uint8)
    image[:16] = (255, 0, 0)  # top half red, bottom half blue
    image[16:] = (0, 0, 255)
    renderer.set_appearance(Material(albedo=np.full((4, 4, 3), 128, np.uint8)), Lighting(), Background(image=image))
    frame = renderer.render(neutral, Camera(image_size=SIZE))
    np.testing.assert_array_equal(frame[2, 2], (255, 0, 0))
    np.testing.assert_array_equal(frame[-3, 2], (0, 0, 255))


def test_a_pre_drawn_background_gives_the_frames_of_one_drawn_per_frame(head: ICTFaceKit, renderer: GLRenderer) -> None:
    """The background image is drawn once and copied into each frame (colour and cleared depth): the frames are
    those of the per-frame quad, also when the head moves back, where a depth buffer left over would hide it."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    renderer.set_appearance(Material(albedo=np.full((4, 4, 3), 150, np.uint8)), Lighting(), Background(image=image))
    assert renderer.background_fbo is not None
    params = head.neutral_params(3)
    params.jaw[:, 0] = torch.tensor([0.0, 0.15, 0.3])
    params.head_translation[:, 2] = torch.tensor([0.0, -0.08, 0.04])  # the second frame moves away
    with torch.no_grad():
        vertices = head(params).numpy()
    camera = Camera(image_size=SIZE, yaw_deg=15)
    copied = list(renderer.render_sequence(vertices, camera))
    renderer.background_fbo = None  # the per-frame quad
    drawn = list(renderer.render_sequence(vertices, camera))
    for a, b in zip(copied, drawn, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(copied[0], copied[1])
    _grey(renderer)  # a colour-only background is cleared, not copied
    assert renderer.background_fbo is None


def test_render_sequence_matches_render(head: ICTFaceKit, renderer: GLRenderer) -> None:
    _grey(renderer)
    params = head.neutral_params(3)
    params.jaw[:, 0] = torch.tensor([0.0, 0.1, 0.2])
    params.head_rotation[:, 1] = torch.tensor([0.0, 0.2, -0.2])
    with torch.no_grad():
        vertices = head(params).numpy()
    camera = Camera(image_size=SIZE, yaw_deg=10, projection="orthographic")
    frames = list(renderer.render_sequence(vertices, camera))
    assert len(frames) == 3
    for frame, single in zip(frames, vertices, strict=True):
        np.testing.assert_array_equal(frame, renderer.render(single, camera))
    assert not np.array_equal(frames[0], frames[1])


def test_gil_releasing_calls_give_moderngls_frames(head: ICTFaceKit, renderer: GLRenderer) -> None:
    """The draw and read-back go through ctypes (the GIL is released while llvmpipe works); the frames are those
    of moderngl's own calls."""
    assert renderer._gl is not None  # GLVND's libOpenGL is on this machine and in CI
    rng = np.random.default_rng(1)
    renderer.set_appearance(Material(albedo=rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), Lighting(),
                            Background(image=rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    params = head.neutral_params(4)
    params.jaw[:, 0] = torch.tensor([0.0, 0.1, 0.2, 0.3])
    with torch.no_grad():
        vertices = head(params).numpy()
    camera = Camera(image_size=SIZE, yaw_deg=-20)
    released = list(renderer.render_sequence(vertices, camera))
    calls, renderer._gl = renderer._gl, None
    try:
        held = list(renderer.render_sequence(vertices, camera))
    finally:
        renderer._gl = calls
    for a, b in zip(released, held, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len({frame.tobytes() for frame in released}) == 4
    _grey(renderer)


def test_cpu_mipmaps_are_mesas(renderer: GLRenderer) -> None:
    """Every level of mesa_mipmaps equals what glGenerateMipmap makes on llvmpipe."""
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (256, 256, 4), dtype=np.uint8)
    texture = renderer.ctx.texture((256, 256), 4, image.tobytes())
    texture.build_mipmaps()
    levels = gl_module.mesa_mipmaps(image)
    assert [level.shape[0] for level in levels] == [256 >> k for k in range(9)]
    for k, level in enumerate(levels):
        mesa = np.frombuffer(texture.read(level=k), np.uint8).reshape(level.shape)
        np.testing.assert_array_equal(level, mesa, err_msg=f"level {k}")
    texture.release()


def test_frames_with_cpu_mipmaps_are_those_with_gl_mipmaps(head: ICTFaceKit, renderer: GLRenderer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A far, small head samples the coarse levels; the frame is the same either way."""
    assert renderer.software  # the CPU path is taken on llvmpipe only
    rng = np.random.default_rng(8)
    material = Material(albedo=rng.integers(0, 256, (512, 512, 3), dtype=np.uint8))
    camera = Camera(image_size=SIZE, distance_m=4.0)
    with torch.no_grad():
        vertices = head(head.neutral_params())[0].numpy()
    renderer.set_appearance(material, Lighting(), Background(color=BACKGROUND))
    cpu = renderer.render(vertices, camera)
    uploads: list[int] = []
    monkeypatch.setattr(GLRenderer, "_upload_mipmaps", lambda self, texture, levels: uploads.append(len(levels)))
    monkeypatch.setattr(renderer, "software", False)  # -> glGenerateMipmap
    renderer.set_appearance(material, Lighting(), Background(color=BACKGROUND))
    gl_made = renderer.render(vertices, camera)
    assert uploads == []
    np.testing.assert_array_equal(cpu, gl_made)
    assert _mask(cpu).sum() > 100
    monkeypatch.undo()
    _grey(renderer)


def test_bad_input_is_rejected(renderer: GLRenderer, neutral: np.ndarray) -> None:
    with pytest.raises(RenderError, match="vertices"):
        renderer.render(neutral[:100], Camera(image_size=SIZE))
    with pytest.raises(RenderError, match="vertices"):
        renderer.render(neutral[None], Camera(image_size=SIZE))
    with pytest.raises(RenderError, match=r"\(N, V, 3\)"):
        next(renderer.render_sequence(neutral, Camera(image_size=SIZE)))
    with pytest.raises(RenderError, match="image_size"):
        renderer.render(neutral, Camera(image_size=SIZE * 2))
    with pytest.raises(RenderError, match="albedo"):
        renderer.set_appearance(Material(albedo=np.zeros((8, 8))), Lighting(), Background())


def test_missing_egl_names_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    import moderngl

    def refuse(*args: object, **kwargs: object) -> None:
        raise Exception("libEGL.so: cannot open shared object file")

    monkeypatch.setattr(moderngl, "create_standalone_context", refuse)
    with pytest.raises(EGLUnavailableError, match="libegl1 libegl-mesa0 libgl1-mesa-dri"):
        gl_module.create_egl_context()


def test_atlas_and_split_mesh(head: ICTFaceKit, neutral: np.ndarray) -> None:
    atlas = build_texture_atlas(head)
    drawn = head.render_faces.numpy()
    uv = atlas.uvs[atlas.face_uvs[drawn]]
    assert uv.min() >= 0.0 and uv.max() <= 1.0
    rects = [c.rect for c in atlas.cells]
    for i, (u0, v0, su, sv) in enumerate(rects):  # cells do not overlap
        for u1, v1, su1, sv1 in rects[i + 1:]:
            assert u0 + su <= u1 + 1e-9 or u1 + su1 <= u0 + 1e-9 or v0 + sv <= v1 + 1e-9 or v1 + sv1 <= v0 + 1e-9
    assert atlas.cell_of_component(0).rect[2] == 0.75  # the face gets the big block
    split = build_split_mesh(head, atlas)
    assert len(split.triangles) == drawn.sum()
    np.testing.assert_array_equal(split.vertex_ids[split.triangles], head.faces.numpy()[drawn])
    rows = SplitVertexAttributes(split)(neutral)
    np.testing.assert_allclose(rows[:, :3], neutral[split.vertex_ids])
    reference = vertex_normals(neutral, head.faces.numpy()[drawn])[split.vertex_ids]
    unit = rows[:, 3:] / np.linalg.norm(rows[:, 3:], axis=1, keepdims=True)
    assert np.abs(unit - reference).max() < 1e-3


def test_split_vertices_are_the_unique_vertex_uv_pairs_in_row_order(head: ICTFaceKit) -> None:
    """The packed one-integer keys give what np.unique over (vertex, u, v) rows gives, and the atlas is built once
    per head and cannot be changed by one of its users."""
    atlas = build_texture_atlas(head)
    assert build_texture_atlas(head) is atlas and not atlas.uvs.flags.writeable
    drawn = head.render_faces.numpy()
    corner_uv = atlas.uvs[atlas.face_uvs[drawn].ravel()]
    uv_key = np.round(corner_uv.astype(np.float64) * (1 << 20)).astype(np.int64)
    rows = np.stack([head.faces.numpy()[drawn].ravel(), uv_key[:, 0], uv_key[:, 1]], axis=1)
    unique_rows, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    split = build_split_mesh(head, atlas)
    np.testing.assert_array_equal(split.vertex_ids, unique_rows[:, 0])
    np.testing.assert_array_equal(split.uvs, corner_uv[first].astype(np.float32))
    np.testing.assert_array_equal(split.triangles, inverse.reshape(-1, 3))


def test_gl_libraries_are_found_without_spawning_ldconfig(monkeypatch):
    import ctypes.util

    gl = gl_module
    gl._gl_library.cache_clear()
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: pytest.fail(f"find_library({name!r}) was called"))
    assert gl._gl_library("libEGL.so.1", "EGL") == "libEGL.so.1"  # GLVND's name loads directly
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: f"lib{name}.so.7")
    assert gl._gl_library("libNoSuchGL.so.1", "NoSuchGL") == "libNoSuchGL.so.7"  # else the system's lookup
    gl._gl_library.cache_clear()
