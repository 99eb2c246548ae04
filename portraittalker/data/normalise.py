"""Normalisation of one input video for the ``prepare`` stage: square face crop, 25 fps, aligned 16 kHz audio.

- **Frame rate**: the video is resampled to ``fps`` by timestamps (ffmpeg ``fps`` filter, after
  ``setpts=PTS-STARTPTS`` so the first output frame is the video stream's first frame); this also
  regularises variable-frame-rate input.
- **Audio**: a mono WAV at ``sample_rate`` whose sample 0 is the video's time 0. The streams'
  ``start_time`` (ffprobe) are honoured: audio that starts ``d`` s after the video is padded with
  ``d`` s of silence, audio that starts earlier is trimmed. The same WAV is muxed into the clip.
- **Crop**: square frames no larger than ``image_size`` are kept whole. Otherwise a few frames are
  sampled and MediaPipe's face box decides a square around the face (:func:`face_square`, with
  margin, clamped to the frame), so a 1080×1920 portrait video keeps the whole head; without a
  face the square is centred. Then the square is scaled to ``image_size``.

Clips that already conform (``image_size``², constant ``fps``, aligned streams, mp4) are copied.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from portraittalker.data.config import CropConfig
from portraittalker.data.quality import ClipRejected, MediaInfo, reject
from portraittalker.media.files import atomic_path
from portraittalker.media.tools import require_tool
from portraittalker.media.video import VideoError, read_frames

COPYABLE_VIDEO_CODECS = ("h264", "mpeg4", "hevc")
ALIGNED_TOLERANCE_S = 1e-3

FaceDetector = Callable[[np.ndarray], list[np.ndarray]]  # RGB frame -> (478, 3) landmark arrays, largest first


@dataclass(frozen=True)
class Normalised:
    copied: bool  # the input was copied as-is
    crop: tuple[int, int, int]  # (x, y, side) of the square taken from the source frame
    face_found: bool  # the crop was placed by a detected face
    audio_offset_s: float  # audio start - video start in the source (>0: audio was padded)


def run_ffmpeg(arguments: list[str], timeout_s: float, what: str) -> None:
    command = [require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *arguments]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as error:
        raise ClipRejected(reject("corrupt", f"ffmpeg timed out after {timeout_s:.0f} s while {what}", "failed")) \
            from error
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise ClipRejected(reject("corrupt", f"ffmpeg failed while {what}: {' | '.join(tail) or 'no message'}",
                                  "failed"))


def _timeout(info: MediaInfo) -> float:
    return 120 + 20 * max(info.duration_s, 1.0)


def streams_aligned(info: MediaInfo) -> bool:
    return not info.has_audio or abs(info.audio_start_s - info.video_start_s) < ALIGNED_TOLERANCE_S


def conforms(info: MediaInfo, image_size: int, fps: float) -> bool:
    """Already a normalised clip (e.g. a cut HDTF clip): right size, constant fps, aligned streams, mp4."""
    return (info.width == info.height == image_size and abs(info.fps - fps) < 1e-3
            and not info.variable_frame_rate and info.video_codec in COPYABLE_VIDEO_CODECS
            and ("mp4" in info.format_name or "mov" in info.format_name) and streams_aligned(info))


# -- crop ---------------------------------------------------------------------------------------


def sample_frames(info: MediaInfo, count: int) -> list[np.ndarray]:
    """``count`` RGB frames spread over the video, each found by seeking (unreadable ones skipped).

    Frame ``k`` is the one shown at ``k / fps`` after the video stream's start: the first at or after
    half a frame before that time, so rounding of either clock never picks its neighbour.
    """
    fps = info.fps or 25.0
    total = info.n_frames or round(info.duration_s * fps)
    frames = []
    for index in np.unique(np.linspace(0, max(total - 1, 0), count).round().astype(int)):
        start_s = info.video_start_s + max(int(index) - 0.5, 0.0) / fps
        with contextlib.suppress(VideoError):
            frames.extend(read_frames(info.path, every_frame=True, max_frames=1, start_s=start_s,
                                      colour_matrix="bt601"))  # as tracking sees frames
    return frames


def face_square(boxes: Sequence[Sequence[float]], width: int, height: int,
                config: CropConfig) -> tuple[int, int, int]:
    """(x, y, side) of a square around face boxes (x0, y0, x1, y1) inside a width×height frame.

    Centre: the median box centre, raised by ``raise_fraction`` of the side; side: ``scale`` × the
    median box size, at least the extent of all boxes (a moving head stays inside), at most the
    frame's short side; then shifted to lie inside the frame.
    """
    short = min(width, height)
    if not len(boxes):
        side = short
        return (width - side) // 2, (height - side) // 2, side
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx, cy = np.median((b[:, 0] + b[:, 2]) / 2), np.median((b[:, 1] + b[:, 3]) / 2)
    size = float(np.median(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])))
    extent = max(b[:, 2].max() - b[:, 0].min(), b[:, 3].max() - b[:, 1].min())
    side = int(min(short, round(max(config.scale * size, 1.1 * extent))))
    side -= side % 2  # even, for yuv420p
    cy -= config.raise_fraction * side
    x = int(np.clip(round(cx - side / 2), 0, width - side))
    y = int(np.clip(round(cy - side / 2), 0, height - side))
    return x, y, side


def choose_crop(info: MediaInfo, image_size: int, config: CropConfig,
                detect: FaceDetector | None) -> tuple[tuple[int, int, int], bool]:
    """The source square to keep and whether a face placed it (square frames ≤ ``image_size``: whole)."""
    width, height = info.width, info.height
    if (width == height and width <= image_size) or not config.face or detect is None:
        return face_square([], width, height, config), False
    boxes = []
    for rgb in sample_frames(info, config.samples):
        faces = detect(rgb)
        if faces:
            points = faces[0]
            boxes.append((points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()))
    return face_square(boxes, width, height, config), bool(boxes)


# -- audio --------------------------------------------------------------------------------------


def extract_aligned_audio(info: MediaInfo, audio_out: Path, sample_rate: int) -> float:
    """Write the mono WAV whose sample 0 is the video's first frame; returns audio start - video start (s)."""
    offset = info.audio_start_s - info.video_start_s
    samples = round(abs(offset) * sample_rate)
    audio_filter = f"aresample={sample_rate},asetpts=PTS-STARTPTS"
    if samples and offset > 0:
        audio_filter += f",adelay=delays={samples}S:all=1"
    elif samples:
        audio_filter += f",atrim=start_sample={samples},asetpts=PTS-STARTPTS"
    with atomic_path(audio_out) as tmp:
        run_ffmpeg(["-i", str(info.path), "-map", "0:a:0", "-af", audio_filter, "-ac", "1", "-ar", str(sample_rate),
                    "-c:a", "pcm_s16le", "-f", "wav", str(tmp)], _timeout(info), "extracting the audio")
    return offset


def shift_audio(audio_path: Path, frames: int, fps: float) -> None:
    """Delay (``frames`` > 0) or advance (< 0) a WAV by whole video frames in place, keeping its length."""
    samples, rate = sf.read(audio_path, dtype="int16", always_2d=True)
    n = min(round(abs(frames) * rate / fps), len(samples))
    pad = np.zeros((n, samples.shape[1]), samples.dtype)
    shifted = np.concatenate([pad, samples[:len(samples) - n]]) if frames > 0 else np.concatenate([samples[n:], pad])
    with atomic_path(audio_path) as tmp:
        sf.write(tmp, shifted, rate, subtype="PCM_16", format="WAV")


def mux_audio(video_path: Path, audio_path: Path, sample_rate: int, timeout_s: float = 300) -> None:
    """Replace the audio track of a normalised clip with a WAV (video stream copied)."""
    with atomic_path(video_path) as tmp:
        run_ffmpeg(["-i", str(video_path), "-i", str(audio_path), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                    "-c:a", "aac", "-ac", "1", "-ar", str(sample_rate), "-movflags", "+faststart", "-f", "mp4",
                    str(tmp)], timeout_s, "muxing the shifted audio")


def trim_clip(video_path: Path, audio_path: Path | None, start: int, end: int, *, fps: float, sample_rate: int,
              crf: int = 18, preset: str = "veryfast", timeout_s: float = 300) -> None:
    """Cut a normalised clip and its WAV to frames [start, end) in place (both then start at 0)."""
    if audio_path is not None:
        samples, rate = sf.read(audio_path, dtype="int16", always_2d=True)
        kept = samples[round(start * rate / fps): round(end * rate / fps)]
        with atomic_path(audio_path) as tmp:
            sf.write(tmp, kept, rate, subtype="PCM_16", format="WAV")
    arguments = ["-i", str(video_path)]
    if audio_path is not None:
        arguments += ["-i", str(audio_path)]
    arguments += ["-map", "0:v:0", "-vf", f"trim=start_frame={start}:end_frame={end},setpts=PTS-STARTPTS",
                  "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    if audio_path is not None:
        arguments += ["-map", "1:a:0", "-c:a", "aac", "-ac", "1", "-ar", str(sample_rate)]
    with atomic_path(video_path) as tmp:
        run_ffmpeg([*arguments, "-movflags", "+faststart", "-f", "mp4", str(tmp)], timeout_s,
                   f"trimming to frames {start}-{end}")


# -- the clip -----------------------------------------------------------------------------------


def normalise_clip(info: MediaInfo, video_out: Path, audio_out: Path | None, *, image_size: int, fps: float,
                   sample_rate: int, crop: CropConfig, crf: int = 18, preset: str = "veryfast",
                   detect: FaceDetector | None = None) -> Normalised:
    """Write the normalised ``image_size``² ``fps`` video (with the aligned audio) and the aligned WAV.

    ``audio_out`` is required when the input has audio (the video's audio track is made from it).
    """
    with_audio = info.has_audio and audio_out is not None
    offset = extract_aligned_audio(info, audio_out, sample_rate) if with_audio else 0.0
    if conforms(info, image_size, fps):
        with atomic_path(video_out) as tmp:
            shutil.copyfile(info.path, tmp)
        return Normalised(True, (0, 0, info.width), False, offset)
    (x, y, side), face_found = choose_crop(info, image_size, crop, detect)
    flags = "area" if side >= image_size else "bicubic"
    video_filter = (f"setpts=PTS-STARTPTS,fps={fps:g},crop={side}:{side}:{x}:{y},"
                    f"scale={image_size}:{image_size}:flags={flags},setsar=1")
    arguments = ["-i", str(info.path)]
    if with_audio:
        arguments += ["-i", str(audio_out)]
    arguments += ["-map", "0:v:0", "-vf", video_filter, "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                  "-pix_fmt", "yuv420p"]
    if with_audio:
        arguments += ["-map", "1:a:0", "-c:a", "aac", "-ac", "1", "-ar", str(sample_rate)]
    with atomic_path(video_out) as tmp:
        run_ffmpeg([*arguments, "-movflags", "+faststart", "-f", "mp4", str(tmp)], _timeout(info),
                   "normalising the video")
    return Normalised(False, (x, y, side), face_found, offset)
