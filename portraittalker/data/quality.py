"""Media probing and per-clip quality checks of the ``prepare`` stage.

Every check returns ``None`` (pass) or a :class:`Rejection` whose ``reason`` reads
``"<code>: <detail>"``; the code (before the colon) is stable, so manifests and MLflow can count
rejections by kind (:data:`REJECTION_CODES`).
"""

from __future__ import annotations

import itertools
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from portraittalker.data.av_sync import SyncOffsetResult
from portraittalker.data.config import AVOffsetConfig, QualityConfig
from portraittalker.errors import PortraitTalkerError
from portraittalker.face.tracking import FaceTrack
from portraittalker.media.probe import probe_json, run_ffprobe

# Re-exported: both lived here before media/ (callers outside the package may still import them from here).
from portraittalker.media.tools import MissingToolError as MissingToolError
from portraittalker.media.tools import require_tool as require_tool

REJECTION_CODES = (
    "missing_file", "zero_byte", "corrupt", "audio_only", "no_audio", "too_short", "silent_audio",
    "duration_mismatch", "no_face", "multiple_faces", "face_too_small", "scene_cut", "crop_outside",
    "fit_failed", "av_offset", "error",
)
PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class Rejection:
    status: str  # "rejected" (a quality check), "failed" (unusable input / an error) or "pending" (see tables)
    reason: str

    @property
    def code(self) -> str:
        return self.reason.split(":", 1)[0]


class ClipRejected(PortraitTalkerError):  # noqa: N818 - control flow for a Rejection, not an error
    """Raised inside ``prepare_clip`` to stop processing a clip with a recorded reason."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.reason)
        self.rejection = rejection


def reject(code: str, detail: str, status: str = "rejected") -> Rejection:
    if code not in REJECTION_CODES:
        raise ValueError(f"unknown rejection code {code!r}")
    return Rejection(status, f"{code}: {detail}")


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a media file."""

    path: Path
    size_bytes: int
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0  # average frame rate
    nominal_fps: float = 0.0  # r_frame_rate; differs from fps for variable-frame-rate files
    n_frames: int | None = None
    duration_s: float = 0.0
    video_codec: str = ""
    audio_codec: str = ""
    audio_sample_rate: int = 0
    audio_channels: int = 0
    format_name: str = ""
    video_start_s: float = 0.0  # the streams' start_time (seconds on the container's clock)
    audio_start_s: float = 0.0

    @property
    def variable_frame_rate(self) -> bool:
        return self.fps > 0 and self.nominal_fps > 0 and abs(self.fps - self.nominal_fps) > 0.01


def _rate(text: str | None) -> float:
    if not text or text in ("0/0", "N/A"):
        return 0.0
    num, _, den = text.partition("/")
    try:
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def _start_time(stream: dict | None) -> float:
    if not stream:
        return 0.0
    try:
        value = float(stream.get("start_time", 0.0))
    except (TypeError, ValueError):  # "N/A"
        return 0.0
    return value if math.isfinite(value) else 0.0


def probe_media(path: str | Path) -> MediaInfo | Rejection:
    """ffprobe ``path``; unusable files come back as a :class:`Rejection` (``failed``), not an exception."""
    path = Path(path)
    if not path.is_file():
        return reject("missing_file", f"{path} does not exist", "failed")
    size = path.stat().st_size
    if size == 0:
        return reject("zero_byte", f"{path.name} is empty (0 bytes)", "failed")
    try:
        done = run_ffprobe(path, timeout_s=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return reject("corrupt", f"ffprobe timed out on {path.name}", "failed")
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return reject("corrupt", f"{path.name} is not readable media ({message[-1] if message else 'ffprobe failed'})",
                      "failed")
    data = probe_json(done)
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = _rate(str(fmt.get("duration", "0"))) or _rate(str((video or audio or {}).get("duration", "0")))
    n_frames = int(video["nb_frames"]) if video and str(video.get("nb_frames", "")).isdigit() else None
    return MediaInfo(
        path=path,
        size_bytes=size,
        has_video=video is not None,
        has_audio=audio is not None,
        width=int(video.get("width", 0)) if video else 0,
        height=int(video.get("height", 0)) if video else 0,
        fps=_rate(video.get("avg_frame_rate")) if video else 0.0,
        nominal_fps=_rate(video.get("r_frame_rate")) if video else 0.0,
        n_frames=n_frames,
        duration_s=duration,
        video_codec=str(video.get("codec_name", "")) if video else "",
        audio_codec=str(audio.get("codec_name", "")) if audio else "",
        audio_sample_rate=int(audio.get("sample_rate", 0) or 0) if audio else 0,
        audio_channels=int(audio.get("channels", 0) or 0) if audio else 0,
        format_name=str(fmt.get("format_name", "")),
        video_start_s=_start_time(video),
        audio_start_s=_start_time(audio),
    )


def check_media(info: MediaInfo, config: QualityConfig) -> Rejection | None:
    """Checks possible before decoding: streams present, not a still image."""
    if not info.has_video:
        what = "audio-only file" if info.has_audio else "no video or audio stream"
        return reject("audio_only" if info.has_audio else "corrupt", f"{info.path.name}: {what}", "failed")
    if info.width <= 0 or info.height <= 0:
        return reject("corrupt", f"{info.path.name}: video stream has no frame size", "failed")
    if config.require_audio and not info.has_audio:
        return reject("no_audio", f"{info.path.name} has no audio stream (speech is required)")
    return None


def audio_level_dbfs(samples: np.ndarray) -> float:
    """RMS level of float samples in dB full scale (-inf for digital silence)."""
    if samples.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def check_audio(samples: np.ndarray, sample_rate: int, n_video_frames: int, fps: float,
                config: QualityConfig) -> Rejection | None:
    level = audio_level_dbfs(samples)
    if level < config.silence_dbfs:
        return reject("silent_audio", f"audio RMS {level:.1f} dBFS < {config.silence_dbfs:.0f} dBFS")
    audio_s, video_s = len(samples) / sample_rate, n_video_frames / fps
    if abs(audio_s - video_s) > config.max_av_mismatch_s:
        return reject("duration_mismatch", f"video {video_s:.2f} s ({n_video_frames} frames at {fps:g} fps) "
                                           f"vs audio {audio_s:.2f} s")
    return None


class SceneCutDetector:
    """Frame-to-frame HSV histogram distance; feed frames in order with :meth:`update`."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self.distances: list[float] = []  # distance[i] is between frame i and i+1

    def update(self, rgb: np.ndarray) -> None:
        small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
        cv2.normalize(hist, hist)
        if self._previous is not None:
            self.distances.append(float(cv2.compareHist(self._previous, hist, cv2.HISTCMP_BHATTACHARYYA)))
        self._previous = hist


def scene_cuts(histogram_distances: np.ndarray, track: FaceTrack, config: QualityConfig) -> list[int]:
    """Frames i where a cut happens between i-1 and i: histogram jump or landmark jump."""
    cuts = set((np.flatnonzero(np.asarray(histogram_distances) > config.scene_cut_histogram) + 1).tolist())
    points = track.landmarks[:, :, :2]
    if len(points) > 1:
        height = track.face_boxes[:, 3] - track.face_boxes[:, 1]
        motion = np.nanmedian(np.linalg.norm(points[1:] - points[:-1], axis=-1), axis=1) if np.isfinite(
            points).any() else np.full(len(points) - 1, np.nan)
        relative = motion / np.maximum(np.fmin(height[1:], height[:-1]), 1.0)
        with np.errstate(invalid="ignore"):
            cuts |= set((np.flatnonzero(relative > config.scene_cut_landmark_jump) + 1).tolist())
    return sorted(cuts)


def longest_cut_free_stretch(cuts: list[int], n_frames: int, config: QualityConfig, fps: float,
                             margin: int = 2) -> tuple[int, int] | None:
    """[start, end) frames of the longest stretch between scene cuts, ``margin`` frames clear of each cut
    (a cut's neighbours are often blended or half-tracked); ``None`` if shorter than ``scene_cut_keep_s``."""
    if config.scene_cut_keep_s <= 0:
        return None
    bounds = [0, *cuts, n_frames]
    stretches = [(a + (margin if a else 0), b - (margin if b < n_frames else 0)) for a, b in itertools.pairwise(bounds)]
    start, end = max(stretches, key=lambda s: s[1] - s[0])
    return (start, end) if end - start >= config.scene_cut_keep_s * fps else None


def check_track(track: FaceTrack, histogram_distances: np.ndarray, multi_face_counts: list[int],
                config: QualityConfig) -> Rejection | None:
    """Face present, single, large enough, and no scene cut."""
    n = track.n_frames
    if n < config.min_frames:
        return reject("too_short", f"{n} frame(s) < {config.min_frames}")
    # Faces side by side make the one-face streaming tracker drop frames, so a clip the two-face check sees
    # several faces in is "multiple_faces" even when the stream also lost the face: that is the cause to report.
    if multi_face_counts:
        multi = sum(c > 1 for c in multi_face_counts)
        if multi / len(multi_face_counts) > config.max_multi_face_fraction:
            return reject("multiple_faces", f"more than one face in {multi}/{len(multi_face_counts)} sampled frames")
    no_face = 1.0 - float(track.detected.mean())
    if no_face > config.max_no_face_fraction:
        return reject("no_face", f"no face in {no_face:.0%} of frames (max {config.max_no_face_fraction:.0%})")
    heights = (track.face_boxes[:, 3] - track.face_boxes[:, 1]) / max(track.height, 1)
    median_height = float(np.nanmedian(heights))
    if median_height < config.min_face_height_fraction:
        return reject("face_too_small", f"median face height {median_height:.0%} of the frame "
                                        f"< {config.min_face_height_fraction:.0%}")
    cuts = scene_cuts(histogram_distances, track, config)
    if len(cuts) > config.max_scene_cuts:
        return reject("scene_cut", f"{len(cuts)} scene cut(s), first at frame {cuts[0]}")
    return None


def check_av_offset(estimate: SyncOffsetResult | None, config: AVOffsetConfig) -> tuple[int, Rejection | None]:
    """(audio delay to apply in frames, rejection): see :class:`AVOffsetConfig`. ``None``: not measurable.

    An offset that is in range but too uncertain to shift comes back as a ``pending`` :class:`Rejection`
    when the learned check will decide it (``learned.enabled`` and ``learned.decide_uncertain``).
    """
    if estimate is None or abs(estimate.offset) < config.shift_min_frames:
        return 0, None
    offset, confidence = estimate.offset, estimate.confidence
    if abs(offset) > config.max_shift_frames:
        return 0, reject("av_offset", f"audio-video offset {offset:+d} frames (confidence {confidence:.2f}) beyond "
                                      f"±{config.max_shift_frames}")
    if confidence < config.min_confidence:
        detail = f"audio-video offset {offset:+d} frames at confidence {confidence:.2f} < {config.min_confidence:g}"
        if config.learned.enabled and config.learned.decide_uncertain:
            return 0, reject("av_offset", f"{detail}: left to the learned check", "pending")
        return 0, reject("av_offset", f"{detail}: too uncertain to shift")
    return offset, None
