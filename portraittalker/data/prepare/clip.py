"""One clip of ``prepare``: probe -> normalise -> track (-> trim at scene cuts) -> quality checks -> A/V offset -> fit
-> frame rows + preview.

:func:`prepare_clip` never raises for bad input: a rejected or failed clip is a row with its ``status``
and ``reason`` (and no half-made outputs). Normalisation is :mod:`portraittalker.data.normalise` (square
face crop, ``image_size``² at :data:`~portraittalker.motion.schema.FPS`, 16 kHz mono audio aligned to the
video's time 0; clips that already conform are copied as-is); the A/V check is
:mod:`portraittalker.data.prepare.av_offset`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from portraittalker.assets import AssetMissingError
from portraittalker.data.config import PrepareConfig
from portraittalker.data.inputs import ClipInput, file_fingerprint, speaker_from_clip_id
from portraittalker.data.normalise import normalise_clip, trim_clip
from portraittalker.data.prepare.av_offset import check_clip_av_offset
from portraittalker.data.prepare.context import PrepareContext
from portraittalker.data.preview import preview_frame_indices, write_clip_preview
from portraittalker.data.quality import (
    ClipRejected,
    Rejection,
    SceneCutDetector,
    check_audio,
    check_media,
    check_track,
    longest_cut_free_stretch,
    probe_media,
    reject,
    scene_cuts,
)
from portraittalker.data.tables import (
    AV_CONFIDENCE_COLUMN,
    AV_OFFSET_COLUMN,
    AV_SHIFT_COLUMN,
    CAMERA_COLUMN,
    FACE_BOX_COLUMN,
    IDENTITY_COLUMN,
    KEPT_STATUSES,
    LANDMARKS_COLUMN,
    TRIM_START_COLUMN,
)
from portraittalker.face.fitting import FittingError, fit_landmarks
from portraittalker.face.tracking import FaceTrack, FaceTracker, TrackingError, iter_video_rgb
from portraittalker.media.tools import MissingToolError
from portraittalker.motion.schema import MotionTable

log = logging.getLogger(__name__)


@dataclass
class ClipResult:
    row: dict  # a clips.parquet row (CLIP_COLUMNS + identity, camera)
    frames: pd.DataFrame | None  # frames.parquet rows for ok (and pending) clips
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step

    @property
    def ok(self) -> bool:
        return self.row["status"] == "ok"


def clip_input_hash(clip: ClipInput, config: PrepareConfig) -> str:
    payload = f"{clip.clip_id}|{clip.source}|{clip.speaker_id}|{clip.language}|{file_fingerprint(clip.path)}|" \
              f"{config.output_hash()}"
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _base_row(clip: ClipInput, config: PrepareConfig, input_hash: str) -> dict:
    return {
        "clip_id": clip.clip_id, "source": clip.source, "speaker_id": clip.speaker_id or speaker_from_clip_id(
            clip.clip_id), "language": clip.language or config.language, "split": clip.split, "n_frames": 0,
        "fps": float(config.fps), "duration_s": 0.0, "audio_path": "", "video_path": "", "status": "failed",
        "reason": "", "fit_error_px": math.nan, "input_hash": input_hash, AV_OFFSET_COLUMN: math.nan,
        AV_SHIFT_COLUMN: 0, AV_CONFIDENCE_COLUMN: math.nan, TRIM_START_COLUMN: math.nan, IDENTITY_COLUMN: None,
        CAMERA_COLUMN: "",
    }


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

    ``pending``: the onset A/V offset was too uncertain; outputs and frames are kept and the dataset loop
    (:func:`~portraittalker.data.prepare.dataset.prepare_dataset`) settles it with the learned check.

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
        if row["status"] != "pending":
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
    if row["status"] not in KEPT_STATUSES:
        frames_table = None
        for path in (video_out, audio_out):  # no half-made outputs for rejected clips
            path.unlink(missing_ok=True)
        row["video_path"] = row["audio_path"] = ""
    return ClipResult(row, frames_table, timings)


def _track_clip(clip: ClipInput, video_out: Path, expected: int, config: PrepareConfig, context: PrepareContext
                ) -> tuple[FaceTrack, np.ndarray, dict[int, np.ndarray], list[int]]:
    """Track the normalised clip: (track, scene-cut histogram distances, preview frames, faces per sampled frame)."""
    try:
        _, frames = iter_video_rgb(video_out)
    except TrackingError as error:
        raise ClipRejected(reject("corrupt", str(error), "failed")) from error
    detector = SceneCutDetector()
    keep = set(preview_frame_indices(expected, max(config.preview.n_frames, config.quality.multi_face_samples)))
    kept: dict[int, np.ndarray] = {}
    with FaceTracker(max_faces=1) as tracker:
        track = tracker.track_frames(_tapped_frames(iter(frames), detector, keep, kept), float(config.fps))
    if track.n_frames == 0:
        raise ClipRejected(reject("corrupt", f"{clip.path.name}: no decodable video frames", "failed"))
    sampled = [kept[i] for i in sorted(kept)][: config.quality.multi_face_samples]
    multi_face_counts = [len(context.multi_face_tracker.track_frame(rgb)) for rgb in sampled]
    return track, np.asarray(detector.distances), kept, multi_face_counts


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
    track, cut_distances, kept, multi_face_counts = _track_clip(clip, video_out, expected, config, context)
    cuts = scene_cuts(cut_distances, track, quality)
    if len(cuts) > quality.max_scene_cuts and (
            stretch := longest_cut_free_stretch(cuts, track.n_frames, quality, config.fps)) is not None:
        log.info("prepare: %s: %d scene cut(s) (first at frame %d): keeping frames %d-%d", clip.clip_id, len(cuts),
                 cuts[0], *stretch)
        trim_clip(video_out, audio_out if info.has_audio else None, *stretch, fps=config.fps,
                  sample_rate=config.sample_rate, crf=config.video_crf, preset=config.video_preset)
        row[TRIM_START_COLUMN] = float(stretch[0])
        track, cut_distances, kept, multi_face_counts = _track_clip(clip, video_out, stretch[1] - stretch[0],
                                                                    config, context)
    timings["track_s"] = time.perf_counter() - start
    timings["frames"] = track.n_frames

    n_frames = track.n_frames
    row["n_frames"], row["duration_s"] = n_frames, n_frames / config.fps
    if (problem := check_track(track, cut_distances, multi_face_counts, quality)) is not None:
        raise ClipRejected(problem)
    if info.has_audio:
        samples, rate = sf.read(audio_out, dtype="float32", always_2d=False)
        if (problem := check_audio(np.asarray(samples), rate, n_frames, config.fps, quality)) is not None:
            raise ClipRejected(problem)
        if config.av_offset.enabled:
            check_clip_av_offset(track, samples, rate, config, row, timings, video_out, audio_out)
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
                     "renderer": "GL" if context.renderer.uses_gl else "wireframe (GL unavailable)",
                     **({"scene cuts": f"trimmed: source frames {row[TRIM_START_COLUMN]:.0f}-"
                                       f"{row[TRIM_START_COLUMN] + n_frames:.0f} kept"}
                        if not math.isnan(row[TRIM_START_COLUMN]) else {})},
        )
        timings["preview_s"] = time.perf_counter() - start
    return table
