"""Per-dataset shared state for ``prepare``: the head model, its landmark model, per-thread trackers and renderer."""

from __future__ import annotations

import threading

import numpy as np

from portraittalker.data.config import PrepareConfig
from portraittalker.data.preview import HeadPreviewRenderer
from portraittalker.face.fitting import LandmarkModel, fit_landmarks
from portraittalker.face.tracking import FaceTracker
from portraittalker.head import HeadModel, load_head_model


class PrepareContext:
    """Things worth building once per dataset: the head model, its landmark model, trackers, renderer.

    The head and landmark model are shared read-only; the MediaPipe still-image tracker and the GL
    renderer (whose context belongs to the thread that made it) are per thread, so one context can
    serve :func:`~portraittalker.data.prepare.dataset.prepare_dataset`'s worker threads.
    """

    def __init__(self, config: PrepareConfig, head: HeadModel | None = None) -> None:
        self.config = config
        self._head = head
        self._landmark_model: LandmarkModel | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._owned: list[FaceTracker | HeadPreviewRenderer] = []

    @property
    def head(self) -> HeadModel:
        with self._lock:
            if self._head is None:
                self._head = load_head_model(self.config.head_model, self.config.head_path)
            return self._head

    @property
    def landmark_model(self) -> LandmarkModel:
        head = self.head
        with self._lock:
            if self._landmark_model is None:
                self._landmark_model = LandmarkModel(head, self.config.fitting.device)
            return self._landmark_model

    def warm_up(self) -> None:
        """Pay one-time costs up front (head load, basis gather, the optimiser's first-use imports)."""
        landmarks = np.full((2, 478, 3), np.nan, dtype=np.float32)
        landmarks[:, :, :2] = np.random.default_rng(0).uniform(200, 300, (2, 478, 2))
        tiny = self.config.fitting.model_copy(update={"rigid_iterations": 1, "iterations": 1})
        fit_landmarks(landmarks, self.head, tiny, self.config.image_size, model=self.landmark_model)

    @property
    def multi_face_tracker(self) -> FaceTracker:
        # Still-image mode with two faces: the streaming tracker runs max_faces=1 for speed (with 2 it
        # re-runs the detector on every frame, halving throughput), so extra faces are checked here.
        tracker = getattr(self._local, "multi_face", None)
        if tracker is None:
            tracker = self._local.multi_face = FaceTracker(max_faces=2, static_image_mode=True)
            with self._lock:
                self._owned.append(tracker)
        return tracker

    @property
    def renderer(self) -> HeadPreviewRenderer:
        renderer = getattr(self._local, "renderer", None)
        if renderer is None:
            preview = self.config.preview
            renderer = self._local.renderer = HeadPreviewRenderer(self.head, preview.tile_size, preview.use_gl)
            with self._lock:
                self._owned.append(renderer)
        return renderer

    def close(self) -> None:
        with self._lock:
            owned, self._owned = self._owned, []
        for resource in owned:
            resource.close()
        self._local = threading.local()

