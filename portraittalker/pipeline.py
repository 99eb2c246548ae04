"""Prompt + speech -> talking-head MP4: the whole path in one readable place.

    audio file --load_audio--> 16 kHz mono --motion generator--> MotionFrames (25 fps)
    prompt --AttributeDesigner--> Avatar (identity, UV albedo, lighting, background)
    MotionFrames + Avatar.identity --head rig--> vertices (N, V, 3) --AttributeStream--> vertex attributes
    attributes + Avatar --LaneRenderer (GLRenderers)--> frames --film grain--> VideoWriter (H.264/AAC, atomic)

With the default head (ICT-FaceKit) and a learned model with a Whisper front end, the whole path is numpy (the rig,
:mod:`portraittalker.motion.runtime`, the numpy Whisper blocks), so a ``generate`` process never imports torch
(~2-3 s of start-up on these CPUs); other heads and generators run their torch models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from portraittalker.avatar.asset import Avatar
from portraittalker.avatar.designer import AttributeDesigner
from portraittalker.avatar.postprocess import apply_film_grain
from portraittalker.config import Params
from portraittalker.head import head_from_config, rig_from_config
from portraittalker.head.params import as_numpy, uses_torch
from portraittalker.media.audio import Audio, load_audio
from portraittalker.media.outputs import check_output_path
from portraittalker.media.video import VideoWriter, is_portraittalker_video
from portraittalker.motion.checkpoint_file import DEFAULT_CHECKPOINT
from portraittalker.motion.frames import MotionFrames
from portraittalker.render.lanes import LaneRenderer
from portraittalker.render.prefetch import AttributeStream
from portraittalker.render.scene import Camera
from portraittalker.validation import check_fps, check_image_size, check_pitch, check_seed, check_yaw

if TYPE_CHECKING:
    from portraittalker.head.base import HeadModel
    from portraittalker.head.params import HeadLike
    from portraittalker.motion.schema import MotionTable

log = logging.getLogger(__name__)
# Frames deformed at once: bounds memory for long audio (generate's attribute stream deforms chunk by chunk).
VERTEX_CHUNK = 50


@dataclass
class StageTimer:
    """Wall-clock seconds per named stage, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


@dataclass
class GenerateResult:
    video_path: Path
    n_frames: int
    duration_s: float
    timings: dict[str, float]
    avatar: Avatar
    motion_frames: MotionFrames

    @property
    def motion(self) -> MotionTable:
        """The motion as a validated :class:`MotionTable` (pandas, built on use)."""
        from portraittalker.motion.schema import MotionTable

        return MotionTable.from_frames(self.motion_frames)


def make_camera(params: Params, yaw_deg: float | None = None, pitch_deg: float | None = None) -> Camera:
    cam = params.render.camera
    return Camera(
        image_size=params.render.image_size,
        yaw_deg=cam.yaw_deg if yaw_deg is None else yaw_deg,
        pitch_deg=cam.pitch_deg if pitch_deg is None else pitch_deg,
        distance_m=cam.distance_m,
        fov_deg=cam.fov_deg,
        projection=cam.projection,
        target=tuple(cam.target),
    )


def motion_checkpoint_path(params: Params, checkpoint: str | None = None) -> Path:
    """The checkpoint ``--motion model`` loads: the given one, params.yaml's, else the packaged default."""
    return Path(checkpoint or params.motion.checkpoint or DEFAULT_CHECKPOINT)


def make_motion_generator(params: Params, head: HeadModel, checkpoint: str | None = None):
    """The configured audio->motion generator on the torch head (``animate(audio, seed) -> MotionTable``)."""
    if params.motion.generator == "baseline":
        from portraittalker.motion.baseline import BaselineLipSync  # imported on use: it pulls in scipy.ndimage

        return BaselineLipSync(head, params.motion.baseline)
    from portraittalker.motion.checkpoint import load_motion_model

    path = motion_checkpoint_path(params, checkpoint)
    if not path.is_file():
        raise FileNotFoundError(
            f"motion-model checkpoint not found: {path}. The default one is built by `dvc repro train` "
            "(or `make model`); use `--motion baseline` to render without a learned model."
        )
    model = load_motion_model(path, head=head, encoder_path=params.motion.encoder_path)
    return model.for_head(head, expression_gain=params.motion.expression_gain)


def animate(audio: Audio, params: Params, head: HeadModel, seed: int, checkpoint: str | None = None) -> MotionTable:
    return make_motion_generator(params, head, checkpoint).animate(audio, seed=seed)


def check_video_output(out_path: str | Path, inputs: list[str | Path | None], *, force: bool = False,
                       option: str = "--out", remedy: str = "pass --force to replace it") -> Path:
    """Refuse, before any work, an output that is an input, a folder, not ``.mp4``, unwritable, or a file that
    is not a video portraittalker wrote (unless ``force``); sweep stale temp files of ours beside it."""
    return check_output_path(out_path, option=option, suffixes=[".mp4"], kind="video", inputs=inputs,
                             is_previous_output=is_portraittalker_video, force=force, remedy=remedy)


def check_generate_settings(params: Params, seed: int, yaw_deg: float | None, pitch_deg: float | None) -> None:
    """Every value a render depends on, checked before any work (the names are the library/params.yaml ones)."""
    check_seed(seed, "seed")
    if yaw_deg is not None:
        check_yaw(yaw_deg, "yaw_deg")
    if pitch_deg is not None:
        check_pitch(pitch_deg, "pitch_deg")
    check_yaw(params.render.camera.yaw_deg, "params.yaml render.camera.yaw_deg")
    check_pitch(params.render.camera.pitch_deg, "params.yaml render.camera.pitch_deg")
    check_image_size(params.render.image_size, "params.yaml render.image_size")
    check_fps(params.video.fps, "params.yaml video.fps")


class _FramesOf:
    """A torch generator (``animate -> MotionTable``) as one giving :class:`MotionFrames`."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator

    def animate(self, audio: Audio, seed: int = 0) -> MotionFrames:
        return self.generator.animate(audio, seed=seed).to_frames()


def iter_vertex_chunks(motion: MotionFrames, head: HeadLike, identity: np.ndarray,
                       vertex_offsets: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Posed vertices, (n ≤ VERTEX_CHUNK, V, 3) float32 per chunk, so memory stays bounded for long audio.

    ``vertex_offsets`` (V, 3): an optimised avatar's per-vertex displacements, added after the blendshapes and
    before the rigid head pose, as the appearance optimiser and the GLB export apply them. ``head`` is the numpy
    rig or a torch head model.
    """
    head_params = motion.head_params(head, np.asarray(identity, np.float32))
    offsets = None if vertex_offsets is None else np.asarray(vertex_offsets, np.float32)
    for start in range(0, len(motion), VERTEX_CHUNK):
        frames = head_params.frames(start, start + VERTEX_CHUNK)
        if uses_torch(head):
            yield _torch_chunk(head, frames, offsets)
        elif offsets is None:
            yield head(frames)
        else:
            yield head.apply_head_pose(head.deform(frames) + offsets, frames)


def _torch_chunk(head: HeadModel, frames: Any, offsets: np.ndarray | None) -> np.ndarray:
    import torch

    from portraittalker.head.params import HeadParams

    tensors = HeadParams(**{name: torch.from_numpy(value) for name, value in vars(frames).items()})
    # Entered per chunk: inference mode is per thread and generate may resume this generator from a worker thread.
    with torch.inference_mode():
        if offsets is None:
            return as_numpy(head(tensors))
        return as_numpy(head.apply_head_pose(head.deform(tensors) + torch.from_numpy(offsets), tensors))


class GenerationSession:
    """The heavy, job-independent parts of :func:`generate_video`, built once and reused for many jobs.

    Head model, avatar designer (its texel/paint caches hang off the head), motion generator (checkpoint and
    Whisper speech encoder) and the GL renderer are created on first use, so a bad first audio file is still
    reported before any model loads. Use as a context manager: the renderer's GL context is released on exit,
    also when a job fails. GL contexts belong to the thread that made them, so one session serves one thread
    (:func:`cached_session` keeps one per thread).
    """

    def __init__(self, params: Params, *, checkpoint: str | None = None) -> None:
        self.params = params
        self.checkpoint = checkpoint
        self._head: HeadLike | None = None
        self._torch_head: HeadModel | None = None
        self._designer: AttributeDesigner | None = None
        self._motion = None
        self._renderer: LaneRenderer | None = None

    @property
    def head(self) -> HeadLike:
        """The head the avatar is designed on, posed and rendered: the numpy rig where there is one (ICT)."""
        if self._head is None:
            self._head = rig_from_config(self.params.head) or self.torch_head
        return self._head

    @property
    def torch_head(self) -> HeadModel:
        """The torch head model, built only for generators that run in torch."""
        if self._torch_head is None:
            self._torch_head = head_from_config(self.params.head)
        return self._torch_head

    @property
    def designer(self) -> AttributeDesigner:
        if self._designer is None:
            self._designer = AttributeDesigner(self.head, self.params.designer)
        return self._designer

    @property
    def motion_generator(self):
        """``animate(audio, seed) -> MotionFrames``: a learned model with a Whisper front end in numpy on the rig,
        any other generator in torch."""
        if self._motion is None:
            params = self.params
            path = motion_checkpoint_path(params, self.checkpoint)
            if params.motion.generator == "model" and path.is_file() and not uses_torch(self.head):
                from portraittalker.motion.runtime import load_numpy_lip_sync

                self._motion = load_numpy_lip_sync(path, self.head, encoder_path=params.motion.encoder_path,
                                                   expression_gain=params.motion.expression_gain)
            if self._motion is None:
                self._motion = _FramesOf(make_motion_generator(params, self.torch_head, self.checkpoint))
        return self._motion

    @property
    def renderer(self) -> LaneRenderer:
        """The lanes of GL renderers; they build in their threads, beside whatever this thread does next."""
        if self._renderer is None:
            self._renderer = LaneRenderer(self.head, self.params.render.image_size, self.params.render.gl)
        return self._renderer

    def release(self) -> None:
        """Free the GL context; the models stay (a later job builds a new renderer)."""
        if self._renderer is not None:
            self._renderer.release()
            self._renderer = None

    def __enter__(self) -> GenerationSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def generate(
        self,
        prompt: str,
        audio_path: str | Path,
        out_path: str | Path,
        *,
        seed: int | None = None,
        yaw_deg: float | None = None,
        pitch_deg: float | None = None,
        on_frame: Callable[[int, int], None] | None = None,
        force: bool = False,
        avatar: Avatar | None = None,
    ) -> GenerateResult:
        """One video; the arguments and result are :func:`generate_video`'s (stages already built time ~0).

        A failed job releases the renderer (a half-drawn GL state is not reused; the next job builds a new one).
        """
        try:
            return self._generate(prompt, audio_path, out_path, seed=seed, yaw_deg=yaw_deg, pitch_deg=pitch_deg,
                                  on_frame=on_frame, force=force, avatar=avatar)
        except BaseException:
            self.release()
            raise

    def _animate(self, audio: Audio, seed: int) -> MotionFrames:
        start = time.perf_counter()
        motion = self.motion_generator.animate(audio, seed=seed)
        log.info("motion (load and animate, beside the avatar design) took %.2f s", time.perf_counter() - start)
        return motion

    def _generate(self, prompt: str, audio_path: str | Path, out_path: str | Path, *, seed: int | None,
                  yaw_deg: float | None, pitch_deg: float | None, on_frame: Callable[[int, int], None] | None,
                  force: bool, avatar: Avatar | None) -> GenerateResult:
        params = self.params
        seed = params.seed if seed is None else seed
        check_generate_settings(params, seed, yaw_deg, pitch_deg)
        check_video_output(out_path, [audio_path, self.checkpoint, params.motion.checkpoint], force=force)
        timer = StageTimer()
        with timer.stage("load_audio"):  # first: a bad audio file is reported before any other work
            audio = load_audio(audio_path, sample_rate=params.audio.sample_rate,
                               max_duration_s=params.audio.max_duration_s)
        with timer.stage("load_head"):
            head = self.head
        # The motion path (checkpoint and speech-encoder load, encoding, the model) runs in a worker thread beside
        # the avatar design, and the GL lanes build their renderers in theirs: numpy, CTranslate2, GL and file reads
        # release the GIL. The frames' geometry (deformation and vertex attributes) needs only the motion and the
        # identity, so its worker starts too and fills ahead while the textures are painted. Stages are timed on
        # this thread: "animate" is the wait for what was left of the motion, "renderer_setup" the wait for the
        # lanes plus the upload of the avatar's textures, and "render" includes any wait for the geometry.
        if avatar is not None:
            avatar.validate(head)
        with ExitStack() as stack:
            animating = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="animate")).submit(
                self._animate, audio, seed)
            renderer = self.renderer
            identity = self.designer.identity(prompt, seed) if avatar is None else avatar.identity
            offsets = None if avatar is None else avatar.vertex_offsets
            geometry = stack.enter_context(AttributeStream(
                lambda: iter_vertex_chunks(animating.result(), head, identity, offsets),
                lambda: renderer.topology()[1], params.render.gl.prefetch_frames))
            with timer.stage("design_avatar"):
                if avatar is None:
                    avatar = self.designer.design(prompt, seed=seed)
            with timer.stage("renderer_setup"):
                renderer.set_appearance(avatar.material, avatar.lighting, avatar.background)
            with timer.stage("animate"):
                motion = animating.result()
            camera = make_camera(params, yaw_deg, pitch_deg)
            size = params.render.image_size
            rng = np.random.default_rng(seed)
            total = len(motion)
            with (VideoWriter(out_path, size, size, fps=params.video.fps, audio=audio, crf=params.video.crf,
                              preset=params.video.preset) as writer,
                  ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as encoder):
                # A worker thread (numpy, cv2 and the pipe write release the GIL) grains and encodes the previous
                # frame while this thread renders; "encode" is the wait for it. One worker, so grain draws and
                # frames keep their order.
                def grain_and_write(frame: np.ndarray) -> None:
                    writer.write(apply_film_grain(frame, avatar.film_grain, rng) if avatar.film_grain > 0 else frame)

                frames = renderer.render_attribute_sequence(geometry, camera)  # the lanes draw alternate frames
                writing = None
                for done in range(total):
                    with timer.stage("render"):
                        frame = next(frames)
                    with timer.stage("encode"):
                        if writing is not None:
                            writing.result()  # one frame in flight: bounded memory, errors surface here
                        writing = encoder.submit(grain_and_write, frame)
                    if done > 0 and on_frame is not None:
                        on_frame(done, total)
                if writing is not None:
                    with timer.stage("encode"):
                        writing.result()
                    if on_frame is not None:
                        on_frame(total, total)
            finish_start = time.perf_counter()  # closing flushes ffmpeg and renames the file into place
        timer.seconds["encode_finish"] = time.perf_counter() - finish_start
        log.info("generated %s (%d frames) in %.2f s", out_path, total, timer.total)
        return GenerateResult(Path(out_path), total, audio.duration_s, dict(timer.seconds), avatar, motion)


_SESSIONS = threading.local()  # per thread: GL contexts are thread-bound; Dask workers are processes of threads


def session_key(params: Params, checkpoint: str | None = None) -> str:
    """Hash of the params a session's built parts depend on (head, motion, designer, renderer settings)."""
    relevant = params.model_dump(mode="json", include={"head", "motion", "designer", "render"})
    payload = json.dumps({"params": relevant, "checkpoint": checkpoint}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def cached_session(params: Params, checkpoint: str | None = None) -> GenerationSession:
    """This thread's session for these settings, built on first use, so a batch worker loads the head model,
    checkpoint and speech encoder once rather than per job. Other settings replace it (only one is kept: each
    holds a GL context and models). The renderer is released when the thread's session is replaced or dropped."""
    key = session_key(params, checkpoint)
    current: tuple[str, GenerationSession] | None = getattr(_SESSIONS, "current", None)
    if current is not None and current[0] == key:
        return current[1]
    if current is not None:
        current[1].release()
    session = GenerationSession(params, checkpoint=checkpoint)
    _SESSIONS.current = (key, session)
    return session


def generate_video(
    prompt: str,
    audio_path: str | Path,
    out_path: str | Path,
    params: Params,
    *,
    seed: int | None = None,
    yaw_deg: float | None = None,
    pitch_deg: float | None = None,
    checkpoint: str | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    force: bool = False,
    avatar: Avatar | None = None,
) -> GenerateResult:
    """Render one talking-head video; ``on_frame(done, total)`` reports progress.

    ``avatar``: a ready avatar (``portraittalker avatar``: photo fit or SDS) instead of designing one from ``prompt``.

    Before any work: the settings are checked and ``out_path`` must pass :func:`check_video_output` (``force``
    replaces an existing file that is not an earlier portraittalker video). Many videos: :class:`GenerationSession`.
    """
    with GenerationSession(params, checkpoint=checkpoint) as session:
        return session.generate(prompt, audio_path, out_path, seed=seed, yaw_deg=yaw_deg, pitch_deg=pitch_deg,
                                on_frame=on_frame, force=force, avatar=avatar)
