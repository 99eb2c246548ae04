"""Layout of a prepared dataset directory — the contract between ``prepare``, ``train`` and ``evaluate``.

A dataset directory holds:

- ``clips.parquet``: one row per input clip (accepted or not), columns :data:`CLIP_COLUMNS`.
  ``status`` is ``"ok"``, ``"rejected"`` (a quality check failed) or ``"failed"`` (an error);
  ``reason`` says why. ``"pending"`` appears only in a checkpoint written mid-run: a clip whose onset
  A/V offset was too uncertain, waiting for the learned check (its outputs and frames are kept).
  ``split`` is ``train``/``val``/``test``, assigned by speaker (no speaker in
  two splits). ``audio_path`` is a 16 kHz mono WAV relative to the dataset directory.
  ``av_offset_frames`` is the audio-video offset measured on the source (SyncNet sign: positive =
  audio leads the mouth; NaN where not measured), ``av_shift_frames`` the delay applied to the
  audio to correct it (positive = delayed; 0 = none), ``av_confidence`` the estimate's confidence;
  ``av_learned_offset`` / ``av_learned_confidence`` the learned check's residual offset after that shift
  (:mod:`portraittalker.data.speech_sync`). ``trim_start_frame``: a clip with scene cuts kept only its longest
  cut-free stretch, which starts at this frame of the normalised source (NaN: not trimmed).
  Tables written before these columns existed read back with NaN / 0 (:func:`read_dataset_tables`).
- ``frames.parquet``: one row per frame of every ``ok`` clip: ``clip_id, frame, time_s``,
  ``landmarks`` (478*3 float32, flattened, pixel x/y in the 512² clip and MediaPipe z),
  ``face_box`` (4 float32: x_min, y_min, x_max, y_max) and the motion-schema columns of
  :mod:`portraittalker.motion.schema` for the dataset's head model (fitted values).
- ``truth.parquet`` (synthetic corpora only): ``clip_id, frame, time_s`` and the ground-truth motion
  columns the clip was rendered from.
- ``audio/<clip_id>.wav``, ``clips/<clip_id>.mp4`` (normalised clips), ``previews/<clip_id>.png|html``.

The parquet key-value metadata ``portraittalker.dataset`` holds JSON with ``head_model``,
``expression_names``, ``fps`` and ``image_size``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from portraittalker.dataset_layout import CLIPS_FILE, DATASET_METADATA_KEY, FRAMES_FILE, TRUTH_FILE
from portraittalker.errors import PortraitTalkerError
from portraittalker.media.files import atomic_path

CLIP_COLUMNS = [
    "clip_id", "source", "speaker_id", "language", "split", "n_frames", "fps", "duration_s", "audio_path",
    "video_path", "status", "reason", "fit_error_px", "input_hash", "av_offset_frames", "av_shift_frames",
    "av_confidence", "av_learned_offset", "av_learned_confidence", "trim_start_frame",
]
AV_OFFSET_COLUMN, AV_SHIFT_COLUMN, AV_CONFIDENCE_COLUMN = "av_offset_frames", "av_shift_frames", "av_confidence"
# The learned check's residual offset and confidence (data/speech_sync.py; NaN where not measured).
LEARNED_OFFSET_COLUMN, LEARNED_CONFIDENCE_COLUMN = "av_learned_offset", "av_learned_confidence"
# Columns added after the first datasets were written: their value for older tables and unmeasured clips.
# A clip trimmed to its longest cut-free stretch: the first kept frame of the normalised source (NaN: not trimmed).
TRIM_START_COLUMN = "trim_start_frame"
OPTIONAL_CLIP_COLUMNS = {AV_OFFSET_COLUMN: np.nan, AV_SHIFT_COLUMN: 0, AV_CONFIDENCE_COLUMN: np.nan,
                         LEARNED_OFFSET_COLUMN: np.nan, LEARNED_CONFIDENCE_COLUMN: np.nan, TRIM_START_COLUMN: np.nan}
CLIP_STATUSES = ("ok", "rejected", "failed", "pending")
KEPT_STATUSES = ("ok", "pending")  # statuses whose outputs and frames are kept
SPLITS = ("train", "val", "test")
FRAME_KEY_COLUMNS = ["clip_id", "frame", "time_s"]
LANDMARKS_COLUMN, FACE_BOX_COLUMN = "landmarks", "face_box"

# Per-clip fit results (extra ``clips.parquet`` columns written by ``prepare``): the fitted identity
# coefficients (list of float32, the head's identity basis) and the fit camera (JSON of
# :class:`portraittalker.render.scene.Camera` fields).
IDENTITY_COLUMN, CAMERA_COLUMN = "identity", "camera"


@dataclass
class DatasetMeta:
    """The ``portraittalker.dataset`` parquet metadata of a prepared dataset."""

    head_model: str
    expression_names: list[str]
    fps: float = 25.0
    image_size: int = 512
    extra: dict = field(default_factory=dict)  # anything else (source, config hash, ...)

    def to_json(self) -> bytes:
        payload = {"head_model": self.head_model, "expression_names": list(self.expression_names),
                   "fps": self.fps, "image_size": self.image_size, **self.extra}
        return json.dumps(payload).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes | str) -> DatasetMeta:
        payload = dict(json.loads(raw))
        known = {k: payload.pop(k) for k in ("head_model", "expression_names", "fps", "image_size") if k in payload}
        if "head_model" not in known or "expression_names" not in known:
            raise DatasetTableError("dataset metadata lacks head_model/expression_names")
        return cls(**known, extra=payload)


class DatasetTableError(PortraitTalkerError, ValueError):
    """A dataset table is missing, malformed, or does not match the layout contract."""


def write_table(df: pd.DataFrame, path: str | Path, meta: DatasetMeta) -> Path:
    """Write one parquet table atomically with the dataset metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), DATASET_METADATA_KEY: meta.to_json()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def fill_optional_clip_columns(clips: pd.DataFrame) -> pd.DataFrame:
    """Add the :data:`OPTIONAL_CLIP_COLUMNS` an older table lacks and fill their gaps (in place; returned)."""
    for column, default in OPTIONAL_CLIP_COLUMNS.items():
        values = clips[column] if column in clips else pd.Series(default, index=clips.index)
        values = pd.to_numeric(values, errors="coerce")
        clips[column] = values.fillna(default).astype(np.int64) if default == 0 else values.astype(np.float64)
    return clips


def check_clips_table(clips: pd.DataFrame) -> None:
    missing = [c for c in CLIP_COLUMNS if c not in clips.columns]
    if missing:
        raise DatasetTableError(f"clips table lacks columns {missing}")
    bad_status = sorted(set(clips["status"]) - set(CLIP_STATUSES))
    if bad_status:
        raise DatasetTableError(f"clips table has unknown statuses {bad_status}; expected {CLIP_STATUSES}")
    if clips["clip_id"].duplicated().any():
        raise DatasetTableError(f"duplicate clip_id: {sorted(clips.loc[clips['clip_id'].duplicated(), 'clip_id'])[:5]}")
    speakers = clips[clips["split"].isin(SPLITS)].groupby("speaker_id")["split"].nunique()
    if (speakers > 1).any():
        raise DatasetTableError(f"speakers in more than one split: {list(speakers[speakers > 1].index[:5])}")


def write_dataset_tables(out_dir: str | Path, clips: pd.DataFrame, frames: pd.DataFrame, meta: DatasetMeta,
                         truth: pd.DataFrame | None = None) -> dict[str, Path]:
    """Validate and atomically write ``clips.parquet``, ``frames.parquet`` (and ``truth.parquet``).

    Each file is replaced atomically; frames go first so a reader never sees ``ok`` clips whose
    frames are absent.
    """
    out_dir = Path(out_dir)
    check_clips_table(clips)
    missing = [c for c in [*FRAME_KEY_COLUMNS, LANDMARKS_COLUMN, FACE_BOX_COLUMN] if c not in frames.columns]
    if missing:
        raise DatasetTableError(f"frames table lacks columns {missing}")
    written = {"frames": write_table(frames, out_dir / FRAMES_FILE, meta)}
    if truth is not None:
        written["truth"] = write_table(truth, out_dir / TRUTH_FILE, meta)
    written["clips"] = write_table(clips, out_dir / CLIPS_FILE, meta)
    return written


def read_table(path: str | Path) -> tuple[pd.DataFrame, DatasetMeta | None]:
    path = Path(path)
    if not path.is_file():
        raise DatasetTableError(f"dataset table not found: {path}")
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(DATASET_METADATA_KEY)
    return table.to_pandas(), DatasetMeta.from_json(raw) if raw else None


def read_dataset_tables(out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, DatasetMeta | None]:
    """(clips, frames, metadata) of a prepared dataset directory."""
    out_dir = Path(out_dir)
    clips, meta = read_table(out_dir / CLIPS_FILE)
    frames, _ = read_table(out_dir / FRAMES_FILE)
    return fill_optional_clip_columns(clips), frames, meta


def frame_array(frames: pd.DataFrame, column: str, width: int) -> np.ndarray:
    """Stack a list-valued frames column (``landmarks``, ``face_box``) into (N, width) float32."""
    if len(frames) == 0:
        return np.zeros((0, width), dtype=np.float32)
    return np.stack([np.asarray(v, dtype=np.float32) for v in frames[column]]).reshape(len(frames), width)
