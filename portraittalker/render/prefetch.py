"""Vertex attribute rows for a whole take, computed ahead in a worker thread while other work runs.

A frame's geometry (the rig's deformation, ~2 ms here, then the split vertices' positions and normals,
:class:`~portraittalker.render.mesh.SplitVertexAttributes`, ~2-3 ms) needs the motion and the avatar's identity, not
its textures. Generation starts this stream as soon as both can exist, so the worker fills up to ``depth`` frames
while the avatar's textures are painted on the other core (which otherwise waits there), then stays ahead of the
render lanes. The frames are the same as drawing each lane's vertices itself.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from portraittalker.render.mesh import SplitMesh

_END = object()
_POLL_S = 0.1  # how often a worker blocked on a full queue checks whether the stream was closed


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class AttributeStream:
    """Iterates (S, 6) float32 ``[position, normal]`` rows, one per frame, of the vertex chunks ``chunks()`` yields.

    ``chunks`` and ``split`` are called in the worker (they may wait, e.g. for the motion or for the first render
    lane's topology); what they or the attribute computation raise is raised by the iteration, at the frame where it
    happened. At most ``depth`` frames wait in memory (~0.65 MB each for the ICT head). :meth:`close` (or leaving the
    ``with`` block) stops the worker, also before the stream is used up.
    """

    def __init__(self, chunks: Callable[[], Iterable[np.ndarray]], split: Callable[[], SplitMesh], depth: int) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, args=(chunks, split), name="attributes-ahead", daemon=True)
        self._thread.start()

    def _run(self, chunks: Callable[[], Iterable[np.ndarray]], split: Callable[[], SplitMesh]) -> None:
        from portraittalker.render.mesh import SplitVertexAttributes

        try:
            attributes = SplitVertexAttributes(split())
            for chunk in chunks():
                for vertices in chunk:
                    if not self._put(attributes(np.ascontiguousarray(vertices, dtype=np.float32))):
                        return
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(_Failure(exc))
            return
        self._put(_END)

    def _put(self, item: object) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[np.ndarray]:
        while not self._finished:
            item = self._queue.get()
            if item is _END:
                self._finished = True
            elif isinstance(item, _Failure):
                self._finished = True
                raise item.error
            else:
                yield item

    def close(self) -> None:
        """Stop the worker (after the frame it is computing) and wait for it."""
        self._closed.set()
        self._thread.join()

    def __enter__(self) -> AttributeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
