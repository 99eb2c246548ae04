"""Per-frame face tracking with MediaPipe Face Mesh (478 landmarks, iris refinement on).

The face-landmark models ship inside the mediapipe 0.10.21 wheel, so this works offline.
Landmarks are returned in pixels of the analysed frames (x right, y down) plus MediaPipe's
relative depth z scaled by the frame width (same units as x), NaN where no face was found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.media.video import VideoDecodeError, VideoFileNotFound, probe_video, read_frames

log = logging.getLogger(__name__)

N_LANDMARKS = 478
# MediaPipe face-mesh indices used by motion metrics (inner lips, outer mouth corners, eye lids).
MOUTH_INNER_UPPER, MOUTH_INNER_LOWER = 13, 14
MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT = 291, 61
LEFT_EYE_UPPER, LEFT_EYE_LOWER, LEFT_EYE_OUTER, LEFT_EYE_INNER = 386, 374, 263, 362
RIGHT_EYE_UPPER, RIGHT_EYE_LOWER, RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 159, 145, 33, 133
FOREHEAD, CHIN = 10, 152
# The Multi-PIE 68-point subset of the 478 MediaPipe landmarks (a common correspondence).
MEDIAPIPE_TO_68 = np.array([
    127, 234, 93, 132, 58, 172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356,  # jaw line
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows
    168, 197, 5, 4, 75, 97, 2, 326, 305,  # nose
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips
])


class TrackingError(PortraitTalkerError, RuntimeError):
    """The video could not be opened or decoded for tracking."""


@dataclass
class FaceTrack:
    """Tracking result for one video: N frames."""

    landmarks: np.ndarray  # (N, 478, 3) float32, pixels; NaN rows where no face
    face_boxes: np.ndarray  # (N, 4) float32 x_min, y_min, x_max, y_max; NaN where no face
    n_faces: np.ndarray  # (N,) int16 faces detected per frame
    width: int
    height: int
    fps: float

    @property
    def n_frames(self) -> int:
        return len(self.n_faces)

    @property
    def detected(self) -> np.ndarray:
        return self.n_faces > 0

    def landmarks68(self) -> np.ndarray:
        """(N, 68, 2) pixel positions of the 68-point subset."""
        return self.landmarks[:, MEDIAPIPE_TO_68, :2]

    def mouth_opening(self) -> np.ndarray:
        """(N,) inner-lip gap normalised by face height (forehead-chin); NaN where no face."""
        lips = self.landmarks[:, [MOUTH_INNER_UPPER, MOUTH_INNER_LOWER], :2]
        gap = np.linalg.norm(lips[:, 0] - lips[:, 1], axis=-1)
        height = np.linalg.norm(self.landmarks[:, FOREHEAD, :2] - self.landmarks[:, CHIN, :2], axis=-1)
        return gap / np.maximum(height, 1e-6)


class FaceTracker:
    """Streaming MediaPipe face-mesh tracker; use as a context manager or call :meth:`close`."""

    def __init__(self, max_faces: int = 2, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, static_image_mode: bool = False) -> None:
        import mediapipe as mp  # heavy import: only when tracking is actually used

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static_image_mode,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._mesh.close()

    def track_frame(self, rgb: np.ndarray) -> list[np.ndarray]:
        """One RGB uint8 frame -> a list of (478, 3) pixel-landmark arrays, largest face first."""
        height, width = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        faces = []
        for face in result.multi_face_landmarks or []:
            points = np.array([(p.x * width, p.y * height, p.z * width) for p in face.landmark], dtype=np.float32)
            faces.append(points)
        faces.sort(key=lambda p: -float(np.ptp(p[:, 0]) * np.ptp(p[:, 1])))
        return faces

    def track_frames(self, frames: Iterable[np.ndarray], fps: float) -> FaceTrack:
        landmarks, boxes, counts = [], [], []
        width = height = 0
        for rgb in frames:
            height, width = rgb.shape[:2]
            faces = self.track_frame(rgb)
            counts.append(len(faces))
            if faces:
                points = faces[0]
                landmarks.append(points)
                boxes.append([points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()])
            else:
                landmarks.append(np.full((N_LANDMARKS, 3), np.nan, dtype=np.float32))
                boxes.append([np.nan] * 4)
        return FaceTrack(
            landmarks=np.asarray(landmarks, dtype=np.float32).reshape(-1, N_LANDMARKS, 3),
            face_boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            n_faces=np.asarray(counts, dtype=np.int16),
            width=width,
            height=height,
            fps=fps,
        )


def iter_video_rgb(path: str | Path, max_frames: int | None = None) -> tuple[float, Iterable[np.ndarray]]:
    """(fps, RGB frame iterator) of ``path``: every decoded frame once (:func:`portraittalker.media.video.read_frames`).

    Errors are :class:`TrackingError`: a missing or undecodable file when called, a decode failure while iterating.
    """
    path = Path(path)
    try:
        info = probe_video(path)
    except VideoFileNotFound as error:
        raise TrackingError(f"video not found: {path}") from error
    except VideoDecodeError as error:
        raise TrackingError(f"cannot open video {path}: not a decodable video file") from error

    def frames() -> Iterable[np.ndarray]:
        try:
            # BT.601 as OpenCV's decoder (which tracking used before) converts: tracks stay as they were.
            yield from read_frames(path, every_frame=True, max_frames=max_frames, colour_matrix="bt601")
        except VideoDecodeError as error:
            raise TrackingError(str(error)) from error

    return info.fps, frames()


def track_video(path: str | Path, *, max_faces: int = 2, max_frames: int | None = None) -> FaceTrack:
    """Track every frame of a video file. Raises :class:`TrackingError` if it has no decodable frames."""
    fps, frames = iter_video_rgb(path, max_frames)
    with FaceTracker(max_faces=max_faces) as tracker:
        track = tracker.track_frames(frames, fps)
    if track.n_frames == 0:
        raise TrackingError(f"video {path} has no decodable frames")
    return track
