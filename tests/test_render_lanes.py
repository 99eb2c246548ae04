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
