"""Video output and input through ffmpeg subprocesses, streaming one frame at a time.

:class:`VideoWriter` pipes raw RGB frames into ``ffmpeg`` (H.264/libx264, yuv420p, AAC audio,
``+faststart`` MP4) so a ten-minute render never holds more than one frame in Python memory.
It writes to a temporary file beside the target and renames it only after ffmpeg succeeded, so a
crash or exception leaves neither a partial video nor a temp file behind.

A/V alignment: with audio, the caller must write exactly ``n_video_frames(audio)`` frames
(:func:`portraittalker.media.audio.n_video_frames`). The audio is padded with silence up to the end of
the last frame, so the MP4's audio and video tracks have the same duration, which is the audio's
duration rounded up to a whole frame (< 1 frame longer).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.media.audio import DEFAULT_SAMPLE_RATE, Audio, write_wav
from portraittalker.media.files import apply_default_mode, reserve_temp
from portraittalker.media.probe import run_ffprobe
from portraittalker.media.tools import require_tool, stderr_tail

DEFAULT_FPS = 25
AUDIO_BITRATE = "128k"
# Written into every MP4's ``comment`` tag: how ``generate`` recognises a file it may replace without --force.
OUTPUT_TAG = "written by portraittalker"


class VideoError(PortraitTalkerError, RuntimeError):
    """Base class for video read/write failures."""


class VideoEncodeError(VideoError):
    """ffmpeg failed while encoding, or the frames written do not match the audio."""


class VideoDecodeError(VideoError):
    """ffprobe/ffmpeg could not read a video file."""


class VideoFileNotFound(VideoError, FileNotFoundError):  # noqa: N818 - mirrors AudioFileNotFound
    """The video file does not exist."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    n_frames: int
    duration_s: float
    has_audio: bool
    audio_duration_s: float | None
    codec: str
    pix_fmt: str | None = None
    audio_codec: str | None = None
    audio_sample_rate: int | None = None


# Writers whose ffmpeg is running. A process that exits while a job thread is mid-video (a SIGTERM'd batch flow
# does not wait for its daemon job threads) would leave ffmpeg running on and its hidden temp files behind.
_OPEN_WRITERS: weakref.WeakSet[VideoWriter] = weakref.WeakSet()


@atexit.register
def abort_open_writers() -> None:
    """Stop every running ffmpeg encoder and delete its temp files (at exit; by a process about to leave)."""
    for writer in list(_OPEN_WRITERS):
        with contextlib.suppress(Exception):  # a job thread may be closing the same writer right now
            writer.abort()


class VideoWriter:
    """Stream RGB frames to an MP4 (H.264 + AAC) with atomic replacement of ``path``.

    >>> with VideoWriter("out.mp4", 256, 256, audio=audio) as writer:
    ...     for frame in frames:  # (256, 256, 3) uint8, audio.n_video_frames() of them
    ...         writer.write(frame)

    ``audio`` may be an :class:`Audio` or a mono float array at ``sample_rate``. It reaches ffmpeg
    through a temporary WAV file (a second pipe would need threads to avoid deadlocks).
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: int = DEFAULT_FPS,
        audio: Audio | np.ndarray | None = None,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            # yuv420p stores chroma at half resolution; libx264 rejects odd sizes.
            raise ValueError(f"VideoWriter({path}): width and height must be positive and even, got {width}x{height}")
        if fps <= 0:
            raise ValueError(f"VideoWriter({path}): fps must be positive, got {fps}")
        if not 0 <= crf <= 51:
            raise ValueError(f"VideoWriter({path}): crf must be in [0, 51], got {crf}")
        self.path = Path(path)
        self.width, self.height, self.fps = int(width), int(height), fps
        self.crf, self.preset = crf, preset
        if isinstance(audio, np.ndarray):
            audio = Audio(samples=audio, sample_rate=sample_rate)
        self.audio = audio
        self.expected_frames = audio.n_video_frames(fps) if audio is not None else None
        self.frames_written = 0
        self._process: subprocess.Popen | None = None
        self._stderr: IO[bytes] | None = None
        self._tmp_video: Path | None = None
        self._tmp_wav: Path | None = None

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> VideoWriter:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        if self._process is not None:
            raise VideoError(f"VideoWriter({self.path}) is already open")
        ffmpeg = require_tool("ffmpeg")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_video = reserve_temp(self.path.parent, self.path.stem, ".mp4")
        try:
            command = [
                ffmpeg, "-nostdin", "-y", "-v", "error",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width}x{self.height}",
                "-framerate", str(self.fps), "-i", "pipe:0",
            ]  # fmt: skip
            if self.audio is not None:
                self._tmp_wav = reserve_temp(self.path.parent, self.path.stem, ".wav")
                write_wav(self._tmp_wav, self._padded_audio_samples(), self.audio.sample_rate)
                command += ["-i", str(self._tmp_wav), "-map", "0:v:0", "-map", "1:a:0"]
            command += [
                "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p",
                "-r", str(self.fps),
            ]  # fmt: skip
            if self.audio is not None:
                command += ["-c:a", "aac", "-b:a", AUDIO_BITRATE]
            command += ["-metadata", f"comment={OUTPUT_TAG}", "-movflags", "+faststart", "-f", "mp4",
                        str(self._tmp_video)]
            # stderr goes to a file, not a pipe: an unread pipe could fill up and stall ffmpeg.
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives until close()/abort()
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
            )
            _OPEN_WRITERS.add(self)
        except BaseException:
            self.abort()
            raise

    def _padded_audio_samples(self) -> np.ndarray:
        assert self.audio is not None and self.expected_frames is not None
        covered = round(self.expected_frames * self.audio.sample_rate / self.fps)
        samples = self.audio.samples
        return np.pad(samples, (0, max(0, covered - samples.shape[0])))[:covered]

    def write(self, frame: np.ndarray) -> None:
        """Append one (height, width, 3) uint8 RGB frame."""
        if self._process is None or self._process.stdin is None:
            raise VideoError(f"VideoWriter({self.path}) is not open; use it as a context manager")
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"VideoWriter({self.path}): frame must be ({self.height}, {self.width}, 3) uint8, "
                f"got {frame.shape} {frame.dtype}"
            )
        if self.expected_frames is not None and self.frames_written >= self.expected_frames:
            raise VideoEncodeError(self._frame_count_message(self.frames_written + 1))
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).data)
        except BrokenPipeError as error:
            raise VideoEncodeError(f"ffmpeg stopped while writing {self.path}: {self._stderr_text()}") from error
        self.frames_written += 1

    def close(self) -> Path:
        """Finish encoding and move the file into place; on any failure nothing is left behind."""
        if self._process is None:
            raise VideoError(f"VideoWriter({self.path}) is not open")
        try:
            if self.frames_written == 0:
                raise VideoEncodeError(f"VideoWriter({self.path}): no frames were written")
            if self.expected_frames is not None and self.frames_written != self.expected_frames:
                raise VideoEncodeError(self._frame_count_message(self.frames_written))
            assert self._process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.close()
            returncode = self._process.wait()
            if returncode != 0:
                raise VideoEncodeError(f"ffmpeg failed (exit {returncode}) writing {self.path}: {self._stderr_text()}")
            assert self._tmp_video is not None
            apply_default_mode(self._tmp_video)
            os.replace(self._tmp_video, self.path)
            self._tmp_video = None
        except BaseException:
            self.abort()
            raise
        self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete every temporary file; the target path is left untouched."""
        if self._process is not None:
            if self._process.stdin is not None:
                with contextlib.suppress(OSError):
                    self._process.stdin.close()
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        _OPEN_WRITERS.discard(self)
        self._process = None
        for tmp in (self._tmp_video, self._tmp_wav):
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        self._tmp_video = self._tmp_wav = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return stderr_tail(self._stderr.read()) or "(no message on stderr)"

    def _frame_count_message(self, n_frames: int) -> str:
        assert self.audio is not None
        return (
            f"VideoWriter({self.path}): {n_frames} frames written, but the {self.audio.duration_s:.3f} s audio "
            f"needs exactly {self.expected_frames} frames at {self.fps} fps "
            "(portraittalker.media.audio.n_video_frames) to keep audio and video the same length"
        )


def is_portraittalker_video(path: str | Path) -> bool:
    """True if ``path`` is an MP4 that :class:`VideoWriter` wrote (its ``comment`` tag is :data:`OUTPUT_TAG`)."""
    try:
        result = run_ffprobe(Path(path))
    except (OSError, RuntimeError):
        return False
    if result.returncode != 0:
        return False
    try:
        tags = json.loads(result.stdout or b"{}").get("format", {}).get("tags", {}) or {}
    except ValueError:
        return False
    return any(key.lower() == "comment" and value == OUTPUT_TAG for key, value in tags.items())


def probe_video(path: str | Path) -> VideoInfo:
    """Stream facts of a video file via ffprobe (first video stream, first audio stream)."""
    path = Path(path)
    if not path.is_file():
        raise VideoFileNotFound(f"video file not found: {path}")
    result = run_ffprobe(path)
    if result.returncode != 0:
        raise VideoDecodeError(f"{path}: not a video ffprobe can read ({stderr_tail(result.stderr)})")
    data = json.loads(result.stdout or b"{}")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None:
        raise VideoDecodeError(f"{path}: has no video stream")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)

    fps = _parse_rate(video.get("avg_frame_rate")) or _parse_rate(video.get("r_frame_rate")) or 0.0
    duration = _to_float(video.get("duration")) or _to_float(data.get("format", {}).get("duration")) or 0.0
    n_frames = int(video["nb_frames"]) if str(video.get("nb_frames", "")).isdigit() else round(duration * fps)
    width, height = int(video["width"]), int(video["height"])
    if _rotation_degrees(video) % 180 == 90:
        width, height = height, width  # ffmpeg auto-rotates on decode, so report displayed size
    return VideoInfo(
        width=width,
        height=height,
        fps=fps,
        n_frames=n_frames,
        duration_s=duration,
        has_audio=audio is not None,
        audio_duration_s=_to_float(audio.get("duration")) if audio is not None else None,
        codec=str(video.get("codec_name")),
        pix_fmt=video.get("pix_fmt"),
        audio_codec=audio.get("codec_name") if audio is not None else None,
        audio_sample_rate=int(audio["sample_rate"]) if audio is not None and "sample_rate" in audio else None,
    )


def read_frames(path: str | Path, size: int | None = None, *, every_frame: bool = False,
                max_frames: int | None = None, start_s: float | None = None,
                colour_matrix: Literal["tagged", "bt601"] = "tagged") -> Iterator[np.ndarray]:
    """Yield decoded (H, W, 3) uint8 RGB frames one at a time: the library's one video decoder.

    ``size`` scales every frame to ``size`` x ``size`` (the pipeline works on square crops; the
    aspect ratio of non-square input is not preserved). By default ffmpeg resamples the stream to
    its nominal frame rate (a variable-rate file gains or loses frames); ``every_frame`` yields each
    decoded frame exactly once instead, as a tracker wants. ``max_frames`` stops after that many;
    ``start_s`` starts at the first frame shown at or after that time on the video stream's own
    clock (its presentation timestamps, start time included). ``colour_matrix="bt601"`` converts
    YUV with the BT.601 matrix whatever the stream's tag says, as OpenCV's decoder does (it differs
    from ``"tagged"`` only for BT.709-tagged video, by up to ~10 levels). Frames are produced lazily;
    closing the generator early stops ffmpeg.
    """
    info = probe_video(path)
    width, height = (size, size) if size is not None else (info.width, info.height)
    if width <= 0 or height <= 0:
        raise ValueError(f"read_frames({path}): invalid output size {width}x{height}")
    if max_frames is not None and max_frames <= 0:
        return
    ffmpeg = require_tool("ffmpeg")
    command = [ffmpeg, "-nostdin", "-v", "error"]
    if start_s is not None:
        # -seek_timestamp: -ss is a stream timestamp, not an offset from the container's (earliest stream's) start.
        command += ["-seek_timestamp", "1", "-ss", f"{start_s:.6f}"]
    command += ["-i", str(path), "-map", "0:v:0", "-an", "-sn"]
    scale = [f"{width}:{height}:flags=area"] if size is not None else []
    if colour_matrix == "bt601":
        scale.append("in_color_matrix=bt601")
    if scale:
        command += ["-vf", "scale=" + ":".join(scale)]
    if every_frame:
        command += ["-fps_mode", "passthrough"]
    if max_frames is not None:
        command += ["-frames:v", str(max_frames)]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    frame_bytes = width * height * 3
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL)
        assert process.stdout is not None
        try:
            while True:
                buffer = process.stdout.read(frame_bytes)
                if len(buffer) < frame_bytes:
                    break
                yield np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 3)
            returncode = process.wait()
            if returncode != 0 or buffer:
                stderr.seek(0)
                problem = f"exit {returncode}" if returncode else f"truncated frame ({len(buffer)} bytes)"
                raise VideoDecodeError(f"{path}: ffmpeg failed to decode ({problem}): {stderr_tail(stderr.read())}")
        finally:
            process.stdout.close()
            if process.poll() is None:
                process.kill()
            process.wait()


def _parse_rate(value: object) -> float | None:
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return float(rate) if rate > 0 else None


def _to_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _rotation_degrees(stream: dict) -> int:
    for side_data in stream.get("side_data_list", []) or []:
        if "rotation" in side_data:
            return int(abs(float(side_data["rotation"])))
    rotate = stream.get("tags", {}).get("rotate")
    return int(abs(float(rotate))) if rotate else 0
