"""The ``prepare`` stage: videos -> normalised clips, tracked landmarks, fitted motion, tables, previews.

- :mod:`.clip` — one clip (:func:`prepare_clip`, never raises for bad input): probe -> normalise ->
  quality checks -> MediaPipe tracking -> A/V offset check -> head-model fit -> frame rows + preview.
- :mod:`.av_offset` — the per-clip A/V-offset check (measure, then shift the audio or reject).
- :mod:`.context` — :class:`PrepareContext`, what is built once per dataset (head, trackers, renderer).
- :mod:`.dataset` — :func:`prepare_dataset`: resume unchanged clips, map the rest, write the tables.
- :mod:`.splits` — speaker-disjoint splits (:func:`assign_splits`).

Inputs are collected by :mod:`portraittalker.data.inputs` (re-exported here). Output layout:
``clips/<clip_id>.mp4``, ``audio/<clip_id>.wav``, ``previews/<clip_id>.png|html``, ``clips.parquet``,
``frames.parquet``.
"""

from __future__ import annotations

from portraittalker.data.config import PREPARE_VERSION as PREPARE_VERSION
from portraittalker.data.config import PrepareConfig
from portraittalker.data.inputs import (
    VIDEO_EXTENSIONS,
    ClipInput,
    PrepareError,
    collect_corpus_inputs,
    collect_folder_inputs,
    collect_manifest_inputs,
    safe_clip_id,
    speaker_from_clip_id,
)
from portraittalker.data.normalise import run_ffmpeg
from portraittalker.data.prepare.av_offset import measure_av_offset
from portraittalker.data.prepare.clip import ClipResult, clip_input_hash, prepare_clip
from portraittalker.data.prepare.context import PrepareContext
from portraittalker.data.prepare.dataset import (
    ClipJob,
    ClipMapper,
    DatasetResult,
    dataset_meta,
    map_clips_in_threads,
    prepare_dataset,
)
from portraittalker.data.prepare.splits import assign_splits

__all__ = [
    "PREPARE_VERSION", "VIDEO_EXTENSIONS", "ClipInput", "ClipJob", "ClipMapper", "ClipResult", "DatasetResult",
    "PrepareConfig", "PrepareContext", "PrepareError", "assign_splits", "clip_input_hash", "collect_corpus_inputs",
    "collect_folder_inputs", "collect_manifest_inputs", "dataset_meta", "map_clips_in_threads", "measure_av_offset",
    "prepare_clip", "prepare_dataset", "run_ffmpeg", "safe_clip_id", "speaker_from_clip_id",
]
