"""AttributeStream: vertex attribute rows computed ahead in a worker thread, in order, bounded, stoppable."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from portraittalker.head.ict_rig import ICTRig
from portraittalker.render.mesh import SplitVertexAttributes, build_split_mesh, build_texture_atlas
from portraittalker.render.prefetch import AttributeStream


@pytest.fixture(scope="module")
def rig() -> ICTRig:
    return ICTRig()


@pytest.fixture(scope="module")
def split(rig: ICTRig):
    return build_split_mesh(rig, build_texture_atlas(rig))


def _chunks(rig: ICTRig, sizes: list[int]) -> list[np.ndarray]:
    n = sum(sizes)
    params = rig.neutral_params(n)
    params.jaw[:, 0] = np.linspace(0.0, 0.3, n, dtype=np.float32)
    vertices = rig(params)
    bounds = np.cumsum([0, *sizes])
    return [vertices[a:b] for a, b in itertools.pairwise(bounds)]


def test_rows_are_the_frames_attributes_in_order(rig: ICTRig, split) -> None:
    chunks = _chunks(rig, [3, 1, 4])
    attributes = SplitVertexAttributes(split)
    expected = [attributes(v).copy() for chunk in chunks for v in chunk]
    with AttributeStream(lambda: iter(chunks), lambda: split, depth=2) as stream:
        rows = list(stream)
    assert len(rows) == 8
    for got, want in zip(rows, expected, strict=True):
        assert got.dtype == np.float32 and got.shape == (len(split.vertex_ids), 6)
        np.testing.assert_array_equal(got, want)
    assert len({id(r) for r in rows}) == 8  # each frame its own array: lanes hold them while drawing


def test_the_worker_stays_at_most_depth_frames_ahead(rig: ICTRig, split) -> None:
    chunks = _chunks(rig, [6])
    taken = []

    def counted():
        for chunk in chunks:
            taken.append(len(chunk))
            yield chunk

    stream = AttributeStream(counted, lambda: split, depth=2)
    try:
        deadline = time.monotonic() + 5
        while stream._queue.qsize() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert stream._queue.qsize() == 2  # full, the third frame waits in the worker
        assert len(list(stream)) == 6
    finally:
        stream.close()


def test_an_error_is_raised_at_its_frame(rig: ICTRig, split) -> None:
    chunks = _chunks(rig, [2])

    def failing():
        yield chunks[0]
        raise RuntimeError("motion failed")

    rows = []
    with AttributeStream(failing, lambda: split, depth=4) as stream, pytest.raises(RuntimeError, match="motion failed"):
        for row in stream:
            rows.append(row)
    assert len(rows) == 2
    def no_lanes():
        raise ValueError("no lanes")

    with AttributeStream(lambda: iter(chunks), no_lanes, 1) as stream, pytest.raises(ValueError, match="no lanes"):
        next(iter(stream))


def test_close_stops_a_worker_blocked_on_a_full_queue(rig: ICTRig, split) -> None:
    chunks = _chunks(rig, [5])
    stream = AttributeStream(lambda: iter(chunks), lambda: split, depth=1)
    next(iter(stream))
    stream.close()  # the worker waits to put frame 3 of 5: it gives up
    assert not any(t.name == "attributes-ahead" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(ValueError, match="depth must be at least 1"):
        AttributeStream(lambda: iter(chunks), lambda: split, depth=0)
