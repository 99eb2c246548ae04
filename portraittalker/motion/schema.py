"""The motion-parameter table every stage reads and writes.

One row per video frame at :data:`FPS` with columns
``frame, time_s, exp_<name>… , jaw_rot_x/y/z, head_rot_x/y/z, head_trans_x/y/z,
eye_blink_l/r, eye_gaze_yaw/pitch`` (angles in radians, translation in metres; conventions in
:mod:`portraittalker.head.base`). ``exp_<name>`` columns are the head model's free expression
basis (``HeadModel.expression_names``). Parquet files carry the head model name and fps in their
schema metadata so a table cannot silently be applied to the wrong head.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from portraittalker.head.base import HeadModel, HeadParams
from portraittalker.media.files import atomic_path
from portraittalker.motion.config import FPS
from portraittalker.motion.frames import (  # noqa: F401  (re-exported: the schema's column names)
    EXP_PREFIX,
    EYE_BLINK_COLUMNS,
    EYE_GAZE_COLUMNS,
    HEAD_ROT_COLUMNS,
    HEAD_TRANS_COLUMNS,
    JAW_COLUMNS,
    POSE_COLUMNS,
    MotionFrames,
    MotionSchemaError,
    expression_columns,
    motion_columns,
    value_columns,
)

METADATA_KEY = b"portraittalker.motion"


@dataclass
class MotionTable:
    """A validated motion table for one head model."""

    frame_data: pd.DataFrame
    head_model: str
    expression_names: list[str]
    fps: float = FPS

    def __post_init__(self) -> None:
        self.validate()

    def __len__(self) -> int:
        return len(self.frame_data)

    @property
    def duration_s(self) -> float:
        return len(self) / self.fps

    @classmethod
    def zeros(cls, n_frames: int, head: HeadModel, fps: float = FPS) -> MotionTable:
        columns = motion_columns(head.expression_names)
        frame_data = pd.DataFrame(np.zeros((n_frames, len(columns)), dtype=np.float32), columns=columns)
        frame_data["frame"] = np.arange(n_frames, dtype=np.int64)
        frame_data["time_s"] = frame_data["frame"] / fps
        return cls(frame_data, head.name, list(head.expression_names), fps)

    def validate(self) -> None:
        expected = motion_columns(self.expression_names)
        missing = [c for c in expected if c not in self.frame_data.columns]
        if missing:
            raise MotionSchemaError(f"motion table for {self.head_model} lacks columns: {missing[:8]}")
        values = self.frame_data[expected[2:]].to_numpy(dtype=np.float64)
        if values.size and not np.isfinite(values).all():
            bad = [c for c in expected[2:] if not np.isfinite(self.frame_data[c]).all()]
            raise MotionSchemaError(f"motion table has non-finite values in columns {bad[:8]}")
        frames = self.frame_data["frame"].to_numpy()
        if len(frames) and not np.array_equal(frames, np.arange(len(frames))):
            raise MotionSchemaError("motion table 'frame' column must be 0..N-1 in order")

    def check_head(self, head: HeadModel) -> None:
        if head.name != self.head_model or list(head.expression_names) != self.expression_names:
            raise MotionSchemaError(
                f"motion table was made for head model {self.head_model!r} "
                f"({len(self.expression_names)} expressions) but is applied to {head.name!r} "
                f"({head.n_expression} expressions)"
            )

    def to_head_params(self, head: HeadModel, identity: torch.Tensor | None = None) -> HeadParams:
        """Per-frame :class:`HeadParams` (B = frames); ``identity`` (1, n_identity) defaults to zeros."""
        self.check_head(head)

        def block(columns: list[str]) -> torch.Tensor:
            return torch.from_numpy(self.frame_data[columns].to_numpy(dtype=np.float32, copy=True))

        if identity is None:
            identity = torch.zeros(1, head.n_identity)
        return HeadParams(
            identity=identity.reshape(1, -1).float(),
            expression=block(expression_columns(self.expression_names)),
            jaw=block(JAW_COLUMNS),
            head_rotation=block(HEAD_ROT_COLUMNS),
            head_translation=block(HEAD_TRANS_COLUMNS),
            eye_blink=block(EYE_BLINK_COLUMNS),
            eye_gaze=block(EYE_GAZE_COLUMNS),
        )

    @classmethod
    def from_frames(cls, frames: MotionFrames) -> MotionTable:
        """The validated table of :class:`MotionFrames` values (``frame`` and ``time_s`` added)."""
        columns = motion_columns(frames.expression_names)
        frame_data = pd.DataFrame(np.zeros((len(frames), len(columns)), dtype=np.float32), columns=columns)
        frame_data["frame"] = np.arange(len(frames), dtype=np.int64)
        frame_data["time_s"] = frame_data["frame"] / frames.fps
        frame_data[value_columns(frames.expression_names)] = frames.values
        return cls(frame_data, frames.head_model, list(frames.expression_names), frames.fps)

    def to_frames(self) -> MotionFrames:
        values = self.frame_data[value_columns(self.expression_names)].to_numpy(dtype=np.float32, copy=True)
        return MotionFrames(values, self.head_model, list(self.expression_names), self.fps)

    @classmethod
    def from_head_params(cls, params: HeadParams, head: HeadModel, fps: float = FPS) -> MotionTable:
        table = cls.zeros(params.batch_size, head, fps)
        blocks = {
            tuple(expression_columns(head.expression_names)): params.expression,
            tuple(JAW_COLUMNS): params.jaw,
            tuple(HEAD_ROT_COLUMNS): params.head_rotation,
            tuple(HEAD_TRANS_COLUMNS): params.head_translation,
            tuple(EYE_BLINK_COLUMNS): params.eye_blink,
            tuple(EYE_GAZE_COLUMNS): params.eye_gaze,
        }
        for columns, tensor in blocks.items():
            table.frame_data[list(columns)] = tensor.detach().cpu().numpy().astype(np.float32)
        table.validate()
        return table

    def save(self, path: str | Path) -> Path:
        """Write parquet atomically, with head model and fps in the schema metadata."""
        import pyarrow as pa  # here, not at the top: generate never reads or writes parquet
        import pyarrow.parquet as pq

        arrow = pa.Table.from_pandas(self.frame_data, preserve_index=False)
        meta = {"head_model": self.head_model, "fps": self.fps, "expression_names": self.expression_names}
        arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), METADATA_KEY: json.dumps(meta)})
        with atomic_path(path) as tmp:
            pq.write_table(arrow, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> MotionTable:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"motion table not found: {path}")
        import pyarrow.parquet as pq

        arrow = pq.read_table(path)
        raw = (arrow.schema.metadata or {}).get(METADATA_KEY)
        if raw is None:
            raise MotionSchemaError(f"{path} is not a PortraitTalker motion table (no schema metadata)")
        meta = json.loads(raw)
        return cls(arrow.to_pandas(), meta["head_model"], list(meta["expression_names"]), float(meta["fps"]))
