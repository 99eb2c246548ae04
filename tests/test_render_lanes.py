"""LaneRenderer: GL renderers in their own threads drawing alternate frames give one renderer's frames, in order."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from portraittalker.head.ict_rig import ICTRig
from portraittalker.head.params import neutral_vertices
from portraittalker.render import lanes as lanes_module
from portraittalker.render.config import GLRendererConfig
from portraittalker.render.gl import EGLUnavailableError, GLRenderer
from portraittalker.render.lanes import LaneRenderer
from portraittalker.render.scene import Background, Camera, Lighting, Material

SIZE = 96


@pytest.fixture(scope="module")
def rig() -> ICTRig:
    return ICTRig()


def _sequence(rig: ICTRig, n: int) -> np.ndarray:
    """n frames of the neutral head nodding and opening the jaw."""
    params = rig.neutral_params(n)
    params.jaw[:, 0] = np.linspace(0.0, 0.3, n, dtype=np.float32)
    params.head_rotation[:, 0] = np.linspace(-0.2, 0.2, n, dtype=np.float32)
    return rig(params)


def _appearance() -> tuple[Material, Lighting, Background]:
    rng = np.random.default_rng(3)
    return (Material(albedo=rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)), Lighting(),
            Background(image=rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)))


@pytest.mark.parametrize("n_lanes", [1, 2, 3])
def test_lanes_give_one_renderers_frames_in_order(rig: ICTRig, n_lanes: int) -> None:
    vertices = _sequence(rig, 7)
    camera = Camera(image_size=SIZE, yaw_deg=15)
    single = GLRenderer(rig, SIZE)
    try:
        single.set_appearance(*_appearance())
        expected = list(single.render_sequence(vertices, camera))
    finally:
        single.release()
    with LaneRenderer(rig, SIZE, GLRendererConfig(lanes=n_lanes)) as renderer:
        assert renderer.lanes == n_lanes and renderer.software
        renderer.set_appearance(*_appearance())
        frames = list(renderer.render_sequence(vertices, camera))
        np.testing.assert_array_equal(renderer.render(vertices[4], camera), expected[4])
    assert len(frames) == len(expected) == 7
    for frame, reference in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(frame, reference)
    assert len({frame.tobytes() for frame in frames}) == 7


def test_release_stops_the_lane_threads(rig: ICTRig) -> None:
    renderer = LaneRenderer(rig, SIZE)
    renderer.set_appearance(*_appearance())
    next(iter(renderer.render_sequence(neutral_vertices(rig)[None], Camera(image_size=SIZE))))
    assert any(t.name.startswith("gl-lane") for t in threading.enumerate())
    renderer.release()
    renderer.release()  # twice is harmless
    assert not any(t.name.startswith("gl-lane") and t.is_alive() for t in threading.enumerate())


def test_a_lane_that_cannot_build_raises_at_first_use(rig: ICTRig, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_egl(*args: object, **kwargs: object) -> GLRenderer:
        raise EGLUnavailableError("no EGL here")

    monkeypatch.setattr(lanes_module, "_build", no_egl)
    renderer = LaneRenderer(rig, SIZE)  # returns at once: the lanes build in the background
    with pytest.raises(EGLUnavailableError, match="no EGL here"):
        renderer.set_appearance(*_appearance())
    renderer.release()  # releasing lanes that never built works


def test_attribute_rows_give_the_frames_of_vertices(rig: ICTRig) -> None:
    """Rows computed outside the lanes (generation's prefetch) draw the frames the lanes draw from vertices."""
    from portraittalker.render.mesh import SplitVertexAttributes

    vertices = _sequence(rig, 5)
    camera = Camera(image_size=SIZE, yaw_deg=-10)
    with LaneRenderer(rig, SIZE, GLRendererConfig(lanes=2)) as renderer:
        renderer.set_appearance(*_appearance())
        expected = list(renderer.render_sequence(vertices, camera))
        attributes = SplitVertexAttributes(renderer.topology()[1])
        frames = list(renderer.render_attribute_sequence((attributes(v) for v in vertices), camera))
        with pytest.raises(Exception, match="attribute rows: expected a float32 array of shape"):
            list(renderer.render_attribute_sequence([attributes(vertices[0])[:-1]], camera))
    assert len(frames) == 5
    for frame, reference in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(frame, reference)


def test_lanes_make_the_surface_texture_once(rig: ICTRig, monkeypatch: pytest.MonkeyPatch) -> None:
    """set_appearance packs the albedo and specular map and makes the mipmaps once for all lanes; each lane's frames
    are those of a renderer that made its own."""
    from portraittalker.render import gl as gl_module

    vertices = _sequence(rig, 4)
    camera = Camera(image_size=SIZE)
    material = Material(albedo=np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8),
                        specular_map=np.random.default_rng(6).random((32, 32)).astype(np.float32))
    single = GLRenderer(rig, SIZE)
    try:
        single.set_appearance(material, Lighting(), Background())
        expected = list(single.render_sequence(vertices, camera))
    finally:
        single.release()
    calls = []
    real = gl_module.mesa_mipmaps
    monkeypatch.setattr(gl_module, "mesa_mipmaps", lambda image: calls.append(image.shape) or real(image))
    with LaneRenderer(rig, SIZE, GLRendererConfig(lanes=3)) as renderer:
        renderer.set_appearance(material, Lighting(), Background())
        frames = list(renderer.render_sequence(vertices, camera))
    assert [shape for shape in calls if shape != (4, 4, 4)] == [(64, 64, 4)]  # 4x4: each lane's default clay
    for frame, reference in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(frame, reference)
