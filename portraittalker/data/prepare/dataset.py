"""The dataset loop of ``prepare``: resume unchanged clips, map :func:`prepare_clip` over the rest, write the tables.

A clip is reused when its input fingerprint and the output-affecting parameters are unchanged
(:func:`~portraittalker.data.prepare.clip.clip_input_hash`) and its outputs are still on disk. Splits are
speaker-disjoint (:mod:`portraittalker.data.prepare.splits`); the tables of :mod:`portraittalker.data.tables`
are written atomically, also every ``checkpoint_every`` clips.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from portraittalker.data.config import PrepareConfig
from portraittalker.data.inputs import ClipInput, PrepareError
from portraittalker.data.prepare.clip import ClipResult, clip_input_hash, prepare_clip
from portraittalker.data.prepare.context import PrepareContext
from portraittalker.data.prepare.splits import assign_splits
from portraittalker.data.preview import write_dataset_index
from portraittalker.data.speech_sync import refine_av_offsets
from portraittalker.data.tables import (
    CAMERA_COLUMN,
    CLIP_COLUMNS,
    CLIPS_FILE,
    FACE_BOX_COLUMN,
    FRAME_KEY_COLUMNS,
    FRAMES_FILE,
    IDENTITY_COLUMN,
    KEPT_STATUSES,
    LANDMARKS_COLUMN,
    DatasetMeta,
    DatasetTableError,
    fill_optional_clip_columns,
    read_dataset_tables,
    write_dataset_tables,
)
from portraittalker.head import HeadModel
from portraittalker.motion.schema import motion_columns

log = logging.getLogger(__name__)


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
    if row["status"] not in KEPT_STATUSES:
        return True
    return all((out_dir / str(row[c])).is_file() for c in ("video_path", "audio_path") if row[c])


ClipJob = tuple[int, ClipInput, str]  # (slot in the input order, clip, input hash)
ClipMapper = Callable[[list[ClipJob], Path, PrepareConfig, PrepareContext], Iterator[tuple[int, ClipResult]]]


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
                old["status"] not in KEPT_STATUSES or clip.clip_id in previous_frames):
            reused_row = {**old.to_dict(), "split": clip.split}  # only an upstream split survives a rerun
            slots.append(ClipResult(reused_row, previous_frames.get(clip.clip_id) if old["status"] in KEPT_STATUSES
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
                              out_dir, config.av_offset.learned, config.av_offset.min_frames, config.fps,
                              config.sample_rate)
            timings["av_learned_s"] = time.perf_counter() - start
        for result in done:  # pending clips the learned check rejected lose their frames
            if result.row["status"] != "ok":
                result.frames = None
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
