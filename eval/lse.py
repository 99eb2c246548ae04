"""LSE-C / LSE-D / offset computed by ``syncnet-python`` (joonson/syncnet_python's SyncNet + S3FD pipeline).

A thin adapter over :class:`syncnet_python.SyncNetPipeline` (PyPI ``syncnet-python`` 0.2.3, the MoChaBench
packaging of the original ``run_pipeline.py`` + ``SyncNetInstance.evaluate``): the video is converted to
25 fps, S3FD detects faces (``facedet_scale`` 0.25, confidence 0.9), faces are tracked within scenes
(PySceneDetect), each track is cropped (``crop_scale`` 0.4, XVID round trip) and scored by SyncNet over
offsets ``-vshift..+vshift``. Per track: offset, confidence (median - min of the mean distances) and
minimum mean distance; for the video, as the package returns them: **LSE-C** = the largest confidence over
tracks, **LSE-D** = the smallest distance over tracks, offset = that of the most confident track
(SyncNet sign: positive = the audio leads the video).

Weights are the user's local files, never downloaded (the package downloads nothing either):
``syncnet_v2.model`` and ``sfd_face.pth``. They are read here with ``torch.load(weights_only=True)`` and
loaded strictly into the package's own ``SyncNetModel.S`` / ``S3FDNet``: :class:`_LocalWeightsPipeline`
overrides the package's two loader methods only, because they call ``torch.load`` without
``weights_only`` and report a missing or foreign file as a bare traceback.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.common import FPS, MetricUnavailable, load_into, read_state_dict
from eval.schema import LSEConfig

log = logging.getLogger(__name__)

SYNCNET_HOW_TO_GET = (
    "download syncnet_v2.model (http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model, as "
    "joonson/syncnet_python's download_model.sh does) and pass its path (--syncnet-weights / "
    "evaluate.metrics.syncnet_weights)"
)
S3FD_HOW_TO_GET = (
    "download sfd_face.pth (https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth, as "
    "joonson/syncnet_python's download_model.sh does) and pass its path (evaluate.metrics.s3fd_weights)"
)


@dataclass
class LSEResult:
    lse_c: float  # largest track confidence (higher is better)
    lse_d: float  # smallest track minimum distance (lower is better)
    offset: int  # of the most confident track; SyncNet sign: positive = audio leads video
    track_offsets: list[int]
    track_confidences: list[float]
    track_distances: list[float]


def missing_weights_reason(syncnet: Path | None, s3fd: Path | None) -> str:
    """Why LSE cannot run when one or both weight paths are not configured (names both files)."""
    parts = []
    if syncnet is None:
        parts.append(f"syncnet_weights (syncnet_v2.model: {SYNCNET_HOW_TO_GET})")
    if s3fd is None:
        parts.append(f"s3fd_weights (sfd_face.pth: {S3FD_HOW_TO_GET})")
    return "no weights given for LSE-C/LSE-D (syncnet-python's SyncNet + S3FD): " + "; ".join(parts)


def load_syncnet_model(path: str | Path, device: str = "cpu") -> Any:
    """``syncnet_python.SyncNetModel.S`` with the user's ``syncnet_v2.model`` (weights_only, strict keys)."""
    from syncnet_python.SyncNetModel import S

    model = S()
    what = "SyncNet weights (syncnet_v2.model)"
    load_into(model, read_state_dict(path, what, SYNCNET_HOW_TO_GET), path, what)
    return model.to(device).eval()


def load_s3fd_network(path: str | Path, device: str = "cpu") -> Any:
    """``syncnet_python``'s ``S3FDNet`` with the user's ``sfd_face.pth`` (weights_only, strict keys)."""
    from syncnet_python.detectors.s3fd.nets import S3FDNet

    net = S3FDNet(device=device)
    what = "S3FD weights (sfd_face.pth)"
    load_into(net, read_state_dict(path, what, S3FD_HOW_TO_GET), path, what)
    return net.to(device).eval()


def _pipeline_class() -> type:
    from syncnet_python import SyncNetPipeline
    from syncnet_python.detectors.s3fd import S3FD
    from syncnet_python.SyncNetInstance import SyncNetInstance

    class _LocalWeightsPipeline(SyncNetPipeline):
        """The package's pipeline; only its two weight loaders are replaced (weights_only, strict keys)."""

        def _load_s3fd(self, path: str) -> S3FD:
            return S3FD(net=load_s3fd_network(path, self.device), device=self.device)

        def _load_syncnet(self, path: str) -> SyncNetInstance:
            return SyncNetInstance(net=load_syncnet_model(path, self.device), device=self.device)

    return _LocalWeightsPipeline


def load_syncnet_pipeline(syncnet_path: str | Path, s3fd_path: str | Path, config: LSEConfig | None = None,
                          device: str = "cpu") -> Any:
    """A ``syncnet_python.SyncNetPipeline`` with the user's two weight files; raises :class:`WeightsError`.

    A missing, unreadable (not ``weights_only``-loadable, e.g. a pickle with code) or foreign file is an error,
    never a silently unavailable metric.
    """
    config = config or LSEConfig()
    settings = {**config.model_dump(), "syncnet_weights": str(syncnet_path), "s3fd_weights": str(s3fd_path),
                "frame_rate": FPS}
    return _pipeline_class()(settings, device=device)


@contextlib.contextmanager
def _captured_output() -> Iterator[io.StringIO]:
    """Collect what the package and its ffmpeg subprocesses print (banners, per-frame confidences).

    ``SyncNetInstance.evaluate`` prints and ffmpeg-python runs ffmpeg without ``-v error``, so file
    descriptors 1 and 2 are pointed at a temporary file for the call; the text is yielded afterwards
    (logged at debug level, quoted in errors).
    """
    text = io.StringIO()
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                try:
                    yield text
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            text.write(sink.read().decode("utf-8", "replace"))
            log.debug("syncnet-python output:\n%s", text.getvalue())


@contextlib.contextmanager
def _quiet_package() -> Iterator[None]:
    """Silence what the package's dependencies report but the user cannot act on.

    PySceneDetect logs its own deprecations (``VideoManager``) at ERROR level on every call, and scipy warns
    when a track is shorter than the 13/9-frame median filters (the filters zero-pad, as upstream).
    """
    scenedetect_log = logging.getLogger("pyscenedetect")
    level = scenedetect_log.level
    scenedetect_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="kernel_size exceeds volume extent")
            yield
    finally:
        scenedetect_log.setLevel(level)


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())


def _trim(video: Path, audio: Path | None, max_frames: int, work: Path) -> tuple[Path, Path]:
    """The first ``max_frames`` 25 fps frames of ``video`` (lossless) and the matching span of its audio."""
    seconds = f"{max_frames / FPS:.3f}"
    trimmed_video, trimmed_audio = work / "video.mkv", work / "audio.wav"
    commands = [
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video), "-map", "0:v:0", "-t", seconds,
         "-r", str(FPS), "-c:v", "ffv1", str(trimmed_video)],
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(audio or video), "-map", "0:a:0", "-t", seconds,
         "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(trimmed_audio)],
    ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise MetricUnavailable(f"cannot cut the first {max_frames} frames for SyncNet: {_tail(done.stderr)}")
    return trimmed_video, trimmed_audio


def compute_lse(pipeline: Any, video: str | Path, audio: str | Path | None = None,
                max_frames: int | None = None) -> LSEResult:
    """LSE-C/LSE-D/offset of ``video`` (speech from ``audio``, else the video's own track) via ``pipeline.inference``.

    ``max_frames`` scores only the first frames (cut losslessly first). No face track long enough, or a
    failure inside the package, raises :class:`MetricUnavailable` with the reason.
    """
    import ffmpeg

    config = pipeline.cfg
    with tempfile.TemporaryDirectory(prefix="portraittalker-lse-") as folder:
        work = Path(folder)
        video, audio = Path(video), Path(audio) if audio is not None else None
        if max_frames is not None:
            video, audio = _trim(video, audio, max_frames, work)
        output = io.StringIO()
        try:
            with _captured_output() as output, _quiet_package():
                offsets, confs, dists, best_conf, min_dist, _, _ = pipeline.inference(
                    str(video), str(audio) if audio is not None else None, cache_dir=str(work / "syncnet"))
        except (RuntimeError, ffmpeg.Error, ValueError) as error:
            raise MetricUnavailable(f"syncnet-python failed on {video}: {error} ({_tail(output.getvalue())})") \
                from error
    if not offsets:
        raise MetricUnavailable(f"no S3FD face track of more than {config.min_track} frames with faces over "
                                f"{config.min_face_size} px (syncnet-python pipeline): SyncNet has nothing to score")
    best = int(np.argmax(confs))
    return LSEResult(lse_c=float(best_conf), lse_d=float(min_dist), offset=int(offsets[best]),
                     track_offsets=[int(o) for o in offsets], track_confidences=[float(c) for c in confs],
                     track_distances=[float(d) for d in dists])
