"""The ``prepare`` stage: videos -> normalised clips, tracked landmarks, fitted motion, tables, previews.

Per clip (:func:`prepare_clip`, never raises for bad input): probe -> normalise
(:mod:`portraittalker.data.normalise`: square face crop, ``image_size``² at
:data:`~portraittalker.motion.schema.FPS`, 16 kHz mono audio aligned to the video's time 0; clips
that already conform are copied as-is) -> quality checks -> MediaPipe tracking -> A/V offset
check (measure with :mod:`portraittalker.sync`; shift the audio or reject, see
:class:`~portraittalker.data.quality.AVOffsetConfig`) -> head-model fit -> frame rows + preview.
:func:`prepare_dataset` loops over clips (:mod:`portraittalker.data.inputs` collects them),
reuses clips whose input fingerprint and parameters are unchanged (resume), assigns
speaker-disjoint splits and writes the tables of :mod:`portraittalker.data.tables` atomically
(also every ``checkpoint_every`` clips).

Output layout: ``clips/<clip_id>.mp4``, ``audio/<clip_id>.wav``, ``previews/<clip_id>.png|html``,
``clips.parquet``, ``frames.parquet``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal

from portraittalker.assets import AssetMissingError
from portraittalker.data.config import PREPARE_VERSION as PREPARE_VERSION
from portraittalker.data.config import PrepareConfig
from portraittalker.data.inputs import (
    VIDEO_EXTENSIONS,
    ClipInput,
    PrepareError,
    collect_corpus_inputs,
    collect_folder_inputs,
    collect_manifest_inputs,
    file_fingerprint,
    safe_clip_id,
    speaker_from_clip_id,
)
from portraittalker.data.normalise import mux_audio, normalise_clip, run_ffmpeg, shift_audio
from portraittalker.data.preview import (
    HeadPreviewRenderer,
    preview_frame_indices,
    write_clip_preview,
    write_dataset_index,
)
from portraittalker.data.quality import (
    AVOffsetConfig,
    ClipRejected,
    Rejection,
    SceneCutDetector,
    check_audio,
    check_av_offset,
    check_media,
    check_track,
    probe_media,
    reject,
)
from portraittalker.data.speech_sync import refine_av_offsets
from portraittalker.data.tables import (
    AV_CONFIDENCE_COLUMN,
    AV_OFFSET_COLUMN,
    AV_SHIFT_COLUMN,
    CAMERA_COLUMN,
    CLIP_COLUMNS,
    CLIPS_FILE,
    FACE_BOX_COLUMN,
    FRAME_KEY_COLUMNS,
    FRAMES_FILE,
    IDENTITY_COLUMN,
    LANDMARKS_COLUMN,
    SPLITS,
    DatasetMeta,
    DatasetTableError,
    fill_optional_clip_columns,
    read_dataset_tables,
    write_dataset_tables,
)
from portraittalker.face.fitting import FittingError, LandmarkModel, fit_landmarks
from portraittalker.face.tracking import FaceTrack, FaceTracker, TrackingError, iter_video_rgb
from portraittalker.head import HeadModel, load_head_model
from portraittalker.media.tools import MissingToolError
from portraittalker.motion.schema import FPS, MotionTable, motion_columns
from portraittalker.sync import SAMPLE_RATE as SYNC_SAMPLE_RATE
from portraittalker.sync import SyncOffsetResult, SyncUnavailable, estimate_av_offset

# Inputs and normalisation live in their own modules; these names stay importable from here.
__all__ = [
    "VIDEO_EXTENSIONS", "ClipInput", "ClipJob", "ClipResult", "DatasetResult", "PrepareConfig", "PrepareContext",
    "PrepareError", "assign_splits", "clip_input_hash", "collect_corpus_inputs", "collect_folder_inputs",
    "collect_manifest_inputs", "measure_av_offset", "prepare_clip", "prepare_dataset", "run_ffmpeg",
    "safe_clip_id", "speaker_from_clip_id",
]

log = logging.getLogger(__name__)



@dataclass
class ClipResult:
    row: dict  # a clips.parquet row (CLIP_COLUMNS + identity, camera)
    frames: pd.DataFrame | None  # frames.parquet rows for ok clips
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step

    @property
    def ok(self) -> bool:
        return self.row["status"] == "ok"


def clip_input_hash(clip: ClipInput, config: PrepareConfig) -> str:
    payload = f"{clip.clip_id}|{clip.source}|{clip.speaker_id}|{clip.language}|{file_fingerprint(clip.path)}|" \
              f"{config.output_hash()}"
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def assign_splits(speakers: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                  seed: int = 0) -> dict[str, str]:
    """Speaker -> split by a seeded hash: stable when clips are added, no speaker in two splits."""
    total = sum(fractions)
    if total <= 0 or any(f < 0 for f in fractions):
        raise PrepareError(f"split fractions must be non-negative and not all zero, got {fractions}")
    edges = np.cumsum(fractions) / total
    result = {}
    for speaker in sorted(set(speakers)):
        unit = int(hashlib.sha256(f"{seed}:{speaker}".encode()).hexdigest()[:12], 16) / float(1 << 48)
        result[speaker] = SPLITS[min(int(np.searchsorted(edges, unit, side="right")), 2)]
    return result


# -- per clip ---------------------------------------------------------------------------------


class PrepareContext:
    """Things worth building once per dataset: the head model, its landmark model, trackers, renderer.

    The head and landmark model are shared read-only; the MediaPipe still-image tracker and the GL
    renderer (whose context belongs to the thread that made it) are per thread, so one context can
    serve :func:`prepare_dataset`'s worker threads.
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


def _base_row(clip: ClipInput, config: PrepareConfig, input_hash: str) -> dict:
    return {
        "clip_id": clip.clip_id, "source": clip.source, "speaker_id": clip.speaker_id or speaker_from_clip_id(
            clip.clip_id), "language": clip.language or config.language, "split": clip.split, "n_frames": 0,
        "fps": float(config.fps), "duration_s": 0.0, "audio_path": "", "video_path": "", "status": "failed",
        "reason": "", "fit_error_px": math.nan, "input_hash": input_hash, AV_OFFSET_COLUMN: math.nan,
        AV_SHIFT_COLUMN: 0, AV_CONFIDENCE_COLUMN: math.nan, IDENTITY_COLUMN: None, CAMERA_COLUMN: "",
    }


def measure_av_offset(track: FaceTrack, samples: np.ndarray, sample_rate: int, config: AVOffsetConfig,
                      fps: float = FPS) -> SyncOffsetResult | None:
    """The clip's A/V offset from its tracked mouth opening and audio; ``None`` where it cannot be measured."""
    if track.n_frames < config.min_frames:
        log.info("prepare: A/V offset not measured: %d frames < %d", track.n_frames, config.min_frames)
        return None
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    if sample_rate != SYNC_SAMPLE_RATE:
        divisor = math.gcd(sample_rate, SYNC_SAMPLE_RATE)
        samples = signal.resample_poly(samples, SYNC_SAMPLE_RATE // divisor, sample_rate // divisor)
    try:
        return estimate_av_offset(track.mouth_opening(), samples, config.sync, fps)
    except SyncUnavailable as error:
        log.info("prepare: A/V offset not measured: %s", error)
        return None


def _tapped_frames(frames: Iterator[np.ndarray], detector: SceneCutDetector, keep: set[int],
                   kept: dict[int, np.ndarray]) -> Iterator[np.ndarray]:
    """Pass frames to the tracker while feeding the scene-cut detector and keeping preview frames."""
    for index, rgb in enumerate(frames):
        detector.update(rgb)
        if index in keep:
            kept[index] = rgb
        yield rgb


def prepare_clip(clip: ClipInput, out_dir: str | Path, config: PrepareConfig | None = None,
                 context: PrepareContext | None = None, input_hash: str | None = None) -> ClipResult:
    """Prepare one clip; bad input yields ``status`` ``rejected``/``failed`` with a reason, never an exception.

    (Programming errors inside are caught too and recorded as ``failed`` with ``error: ...``; a
    missing ffmpeg or head-model asset still raises, since no clip could succeed.)
    """
    config = config or PrepareConfig()
    out_dir = Path(out_dir)
    own_context = context is None
    context = context or PrepareContext(config)
    row = _base_row(clip, config, input_hash or clip_input_hash(clip, config))
    timings: dict[str, float] = {}
    frames_table = None
    video_out = out_dir / "clips" / f"{clip.clip_id}.mp4"
    audio_out = out_dir / "audio" / f"{clip.clip_id}.wav"
    try:
        frames_table = _prepare_clip(clip, out_dir, config, context, row, timings, video_out, audio_out)
        row["status"], row["reason"] = "ok", ""
    except ClipRejected as rejected:
        row["status"], row["reason"] = rejected.rejection.status, rejected.rejection.reason
    except (MissingToolError, AssetMissingError):
        raise  # no clip can succeed without ffmpeg or the head model: stop the batch with the clear message
    except Exception as error:  # the batch must go on; the reason carries the error
        log.exception("prepare: clip %s failed", clip.clip_id)
        row["status"], row["reason"] = "failed", f"error: {type(error).__name__}: {error}"
    finally:
        if own_context:
            context.close()
    if row["status"] != "ok":
        frames_table = None
        for path in (video_out, audio_out):  # no half-made outputs for rejected clips
            path.unlink(missing_ok=True)
        row["video_path"] = row["audio_path"] = ""
    return ClipResult(row, frames_table, timings)


def _prepare_clip(clip: ClipInput, out_dir: Path, config: PrepareConfig, context: PrepareContext, row: dict,
                  timings: dict[str, float], video_out: Path, audio_out: Path) -> pd.DataFrame:
    quality = config.quality
    start = time.perf_counter()
    info = probe_media(clip.path)
    if isinstance(info, Rejection):
        raise ClipRejected(info)
    if (problem := check_media(info, quality)) is not None:
        raise ClipRejected(problem)
    normalised_crop = normalise_clip(
        info, video_out, audio_out if info.has_audio else None, image_size=config.image_size, fps=config.fps,
        sample_rate=config.sample_rate, crop=config.crop, crf=config.video_crf, preset=config.video_preset,
        detect=context.multi_face_tracker.track_frame)
    timings["normalise_s"] = time.perf_counter() - start

    normalised = probe_media(video_out)
    if isinstance(normalised, Rejection) or not normalised.has_video:
        raise ClipRejected(reject("corrupt", f"{clip.path.name}: no decodable video frames", "failed"))
    expected = normalised.n_frames or round(normalised.duration_s * config.fps)
    if 0 < expected < quality.min_frames:
        raise ClipRejected(reject("too_short", f"{expected} frame(s) < {quality.min_frames}"))

    start = time.perf_counter()
    try:
        _, frames = iter_video_rgb(video_out)
    except TrackingError as error:
        raise ClipRejected(reject("corrupt", str(error), "failed")) from error
    detector = SceneCutDetector()
    keep = set(preview_frame_indices(expected, max(config.preview.n_frames, quality.multi_face_samples)))
    kept: dict[int, np.ndarray] = {}
    with FaceTracker(max_faces=1) as tracker:
        track = tracker.track_frames(_tapped_frames(iter(frames), detector, keep, kept), float(config.fps))
    if track.n_frames == 0:
        raise ClipRejected(reject("corrupt", f"{clip.path.name}: no decodable video frames", "failed"))
    sampled = [kept[i] for i in sorted(kept)][: quality.multi_face_samples]
    multi_face_counts = [len(context.multi_face_tracker.track_frame(rgb)) for rgb in sampled]
    timings["track_s"] = time.perf_counter() - start
    timings["frames"] = track.n_frames

    n_frames = track.n_frames
    row["n_frames"], row["duration_s"] = n_frames, n_frames / config.fps
    if (problem := check_track(track, np.asarray(detector.distances), multi_face_counts, quality)) is not None:
        raise ClipRejected(problem)
    if info.has_audio:
        samples, rate = sf.read(audio_out, dtype="float32", always_2d=False)
        if (problem := check_audio(np.asarray(samples), rate, n_frames, config.fps, quality)) is not None:
            raise ClipRejected(problem)
        if config.av_offset.enabled:
            _check_av_offset(track, samples, rate, config, row, timings, video_out, audio_out)
        row["audio_path"] = f"audio/{clip.clip_id}.wav"
    row["video_path"] = f"clips/{clip.clip_id}.mp4"

    start = time.perf_counter()
    head = context.head
    try:
        fit = fit_landmarks(track.landmarks, head, config.fitting, config.image_size, model=context.landmark_model)
    except FittingError as error:
        raise ClipRejected(reject("fit_failed", str(error))) from error
    timings["fit_s"] = time.perf_counter() - start
    row["fit_error_px"] = fit.mean_error_px
    if not fit.mean_error_px <= config.max_fit_error_px:
        raise ClipRejected(reject("fit_failed", f"mean landmark error {fit.mean_error_px:.1f} px "
                                                f"> {config.max_fit_error_px:g} px"))
    row[IDENTITY_COLUMN] = fit.params.identity[0].numpy().astype(np.float32)
    row[CAMERA_COLUMN] = json.dumps(dataclasses.asdict(fit.camera))

    motion = MotionTable.from_head_params(fit.params, head, float(config.fps)).frame_data
    table = pd.DataFrame({"clip_id": clip.clip_id, "frame": motion["frame"], "time_s": motion["time_s"]})
    table[LANDMARKS_COLUMN] = list(track.landmarks.reshape(n_frames, -1).astype(np.float32))
    table[FACE_BOX_COLUMN] = list(track.face_boxes.astype(np.float32))
    table = pd.concat([table, motion.drop(columns=["frame", "time_s"])], axis=1)

    if config.preview.enabled:
        start = time.perf_counter()
        kept_ids = sorted(kept)
        chosen = np.linspace(0, len(kept_ids) - 1, min(config.preview.n_frames, len(kept_ids))).round().astype(int)
        preview_frames = {kept_ids[k]: kept[kept_ids[k]] for k in sorted(set(chosen.tolist()))}
        write_clip_preview(
            out_dir / "previews", clip.clip_id, preview_frames, track.landmarks, head=head, params=fit.params,
            camera=fit.camera, projected68=fit.projected68, frame_error=fit.frame_error_px,
            renderer=context.renderer, config=config.preview, fps=config.fps,
            summary={"source": str(clip.path), "frames": n_frames, "fit error (px)": f"{fit.mean_error_px:.2f}",
                     "source size": f"{info.width}×{info.height} @ {info.fps:.2f} fps",
                     "crop (x, y, side)": f"{normalised_crop.crop}" + (" face" if normalised_crop.face_found else ""),
                     "A/V offset (frames)": f"{row[AV_OFFSET_COLUMN]:+.0f} (conf {row[AV_CONFIDENCE_COLUMN]:.2f}), "
                                            f"audio shifted {row[AV_SHIFT_COLUMN]:+d}",
                     "renderer": "GL" if context.renderer.uses_gl else "wireframe (GL unavailable)"},
        )
        timings["preview_s"] = time.perf_counter() - start
    return table


def _check_av_offset(track: FaceTrack, samples: np.ndarray, rate: int, config: PrepareConfig, row: dict,
                     timings: dict[str, float], video_out: Path, audio_out: Path) -> None:
    """Measure the A/V offset; shift the audio (WAV and the clip's track) or reject, per ``config.av_offset``."""
    start = time.perf_counter()
    estimate = measure_av_offset(track, samples, rate, config.av_offset, config.fps)
    if estimate is not None:
        row[AV_OFFSET_COLUMN], row[AV_CONFIDENCE_COLUMN] = float(estimate.offset), estimate.confidence
    shift, problem = check_av_offset(estimate, config.av_offset)
    if problem is not None:
        raise ClipRejected(problem)
    if shift:
        shift_audio(audio_out, shift, config.fps)
        mux_audio(video_out, audio_out, config.sample_rate)
        row[AV_SHIFT_COLUMN] = shift
    timings["av_offset_s"] = time.perf_counter() - start


# -- dataset ----------------------------------------------------------------------------------


@dataclass
class DatasetResult:
    clips: pd.DataFrame
    frames: pd.DataFrame
    reused: int  # clips taken from a previous run unchanged
    timings: dict[str, float]  # summed seconds per step over processed clips

    @property
    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.clips["status"].value_counts().items()}

    @property
    def reasons(self) -> dict[str, int]:
        """Rejection/failure counts by reason code."""
        codes = self.clips.loc[self.clips["status"] != "ok", "reason"].str.split(":").str[0]
        return {str(k): int(v) for k, v in codes.value_counts().items()}


def dataset_meta(head: HeadModel | None, config: PrepareConfig, source: str = "") -> DatasetMeta:
    names = list(head.expression_names) if head is not None else []
    return DatasetMeta(head_model=config.head_model, expression_names=names, fps=float(config.fps),
                       image_size=config.image_size, extra={"source": source, "params_hash": config.output_hash()})


def _empty_frames(expression_names: list[str]) -> pd.DataFrame:
    columns = [*FRAME_KEY_COLUMNS, LANDMARKS_COLUMN, FACE_BOX_COLUMN, *motion_columns(expression_names)[2:]]
    return pd.DataFrame({c: pd.Series(dtype=object if c in (LANDMARKS_COLUMN, FACE_BOX_COLUMN, "clip_id")
                                      else "float32") for c in columns})


def _finalise_clips(rows: list[dict], config: PrepareConfig) -> pd.DataFrame:
    clips = pd.DataFrame(rows)
    for column in [*CLIP_COLUMNS, IDENTITY_COLUMN, CAMERA_COLUMN]:
        if column not in clips:
            clips[column] = pd.Series(dtype=object)
    # Splits are per speaker: a split given upstream or in config.split_overrides wins over the hash.
    splits = assign_splits(clips["speaker_id"].tolist(), config.split_fractions, config.split_seed)
    given = clips["split"].fillna("") if "split" in clips else pd.Series("", index=clips.index)
    splits.update({speaker: split for speaker, split in zip(clips["speaker_id"], given, strict=True) if split})
    splits.update(config.split_overrides)
    clips["split"] = clips["speaker_id"].map(splits).fillna("")
    clips["n_frames"] = clips["n_frames"].fillna(0).astype(np.int64)
    clips["fit_error_px"] = clips["fit_error_px"].astype(np.float64)
    fill_optional_clip_columns(clips)
    for column in ("fps", "duration_s"):
        clips[column] = clips[column].astype(np.float64)
    return clips[[*CLIP_COLUMNS, IDENTITY_COLUMN, CAMERA_COLUMN]].reset_index(drop=True)


def _outputs_present(row: pd.Series, out_dir: Path) -> bool:
    if row["status"] != "ok":
        return True
    return all((out_dir / str(row[c])).is_file() for c in ("video_path", "audio_path") if row[c])


ClipJob = tuple[int, ClipInput, str]  # (slot in the input order, clip, input hash)
ClipMapper = Callable[[list[ClipJob], Path, PrepareConfig, "PrepareContext"], Iterator[tuple[int, ClipResult]]]


def map_clips_in_threads(jobs: list[ClipJob], out_dir: Path, config: PrepareConfig,
                         context: PrepareContext) -> Iterator[tuple[int, ClipResult]]:
    """Default clip mapper: ``config.workers`` threads, results as they complete."""
    with ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="prepare") as pool:
        futures = {pool.submit(prepare_clip, clip, out_dir, config, context, input_hash): slot
                   for slot, clip, input_hash in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


def prepare_dataset(inputs: Sequence[ClipInput], out_dir: str | Path, config: PrepareConfig | None = None,
                    progress: bool = True, context: PrepareContext | None = None, source: str = "",
                    map_clips: ClipMapper = map_clips_in_threads) -> DatasetResult:
    """Prepare every clip, reuse unchanged ones from a previous run, write the tables atomically.

    ``map_clips`` runs :func:`prepare_clip` over the clips that need work (an orchestrator can map them
    over its own tasks); the tables are checkpointed every ``config.checkpoint_every`` results.
    """
    config = config or PrepareConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = [clip.clip_id for clip in inputs]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise PrepareError(f"duplicate clip ids in the inputs: {duplicates[:5]}")
    previous_rows: dict[str, pd.Series] = {}
    previous_frames: dict[str, pd.DataFrame] = {}
    if (out_dir / CLIPS_FILE).is_file() and (out_dir / FRAMES_FILE).is_file():
        try:
            old_clips, old_frames, _ = read_dataset_tables(out_dir)
            previous_rows = {r["clip_id"]: r for _, r in old_clips.iterrows()}
            previous_frames = dict(iter(old_frames.groupby("clip_id", sort=False)))
        except (DatasetTableError, OSError, ValueError) as error:
            log.warning("prepare: ignoring unreadable previous tables in %s (%s)", out_dir, error)

    own_context = context is None
    context = context or PrepareContext(config)
    timings: dict[str, float] = {}
    reused = processed = 0
    todo: list[tuple[int, ClipInput, str]] = []
    slots: list[ClipResult | None] = []
    for clip in inputs:
        input_hash = clip_input_hash(clip, config)
        old = previous_rows.get(clip.clip_id)
        if old is not None and old["input_hash"] == input_hash and _outputs_present(old, out_dir) and (
                old["status"] != "ok" or clip.clip_id in previous_frames):
            reused_row = {**old.to_dict(), "split": clip.split}  # only an upstream split survives a rerun
            slots.append(ClipResult(reused_row, previous_frames.get(clip.clip_id) if old["status"] == "ok"
                                    else None))
            reused += 1
        else:
            todo.append((len(slots), clip, input_hash))
            slots.append(None)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="prepare", unit="clip")
    try:
        for slot, result in map_clips(todo, out_dir, config, context):
            slots[slot] = result
            for key, value in result.timings.items():
                timings[key] = timings.get(key, 0.0) + value
            processed += 1
            if bar is not None:
                bar.update()
            if processed % config.checkpoint_every == 0 and processed < len(todo):
                done = [r for r in slots if r is not None]
                _write(out_dir, [r.row for r in done], [r.frames for r in done if r.frames is not None],
                       context, config, source)
        done = [r for r in slots if r is not None]
        if config.av_offset.enabled and config.av_offset.learned.enabled:
            start = time.perf_counter()
            refine_av_offsets([r.row for r in done], {r.row["clip_id"]: r.frames for r in done if r.frames is not None},
                              out_dir, config.av_offset.learned, config.av_offset.min_frames,
                              config.av_offset.shift_min_frames, config.fps, config.sample_rate)
            timings["av_learned_s"] = time.perf_counter() - start
        clips, frames_table = _write(out_dir, [r.row for r in done], [r.frames for r in done if r.frames is not None],
                                     context, config, source)
    finally:
        if bar is not None:
            bar.close()
        if own_context:
            context.close()
    if config.preview.enabled:
        write_dataset_index(out_dir, clips)
    return DatasetResult(clips, frames_table, reused, timings)


def _write(out_dir: Path, rows: list[dict], frames: list[pd.DataFrame], context: PrepareContext,
           config: PrepareConfig, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    clips = _finalise_clips(rows, config)
    head = context.head
    frames_table = pd.concat(frames, ignore_index=True) if frames else _empty_frames(list(head.expression_names))
    write_dataset_tables(out_dir, clips, frames_table, dataset_meta(head, config, source))
    return clips, frames_table
