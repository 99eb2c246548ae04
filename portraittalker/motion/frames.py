"""Motion as a plain (frames, columns) float32 array: the motion table's columns without pandas or torch.

``generate`` carries motion in this form from the generator to the rig; ``MotionTable.from_frames`` gives the
validated :class:`~portraittalker.motion.schema.MotionTable` (pandas) that datasets, training and evaluation use.
Column names and conventions are the schema's (:mod:`portraittalker.motion.schema`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from portraittalker.errors import PortraitTalkerError
from portraittalker.head.params import HeadParams, as_numpy
from portraittalker.motion.config import FPS

if TYPE_CHECKING:
    from portraittalker.head.params import HeadLike

EXP_PREFIX = "exp_"
JAW_COLUMNS = ["jaw_rot_x", "jaw_rot_y", "jaw_rot_z"]
HEAD_ROT_COLUMNS = ["head_rot_x", "head_rot_y", "head_rot_z"]
HEAD_TRANS_COLUMNS = ["head_trans_x", "head_trans_y", "head_trans_z"]
EYE_BLINK_COLUMNS = ["eye_blink_l", "eye_blink_r"]
EYE_GAZE_COLUMNS = ["eye_gaze_yaw", "eye_gaze_pitch"]
POSE_COLUMNS = JAW_COLUMNS + HEAD_ROT_COLUMNS + HEAD_TRANS_COLUMNS + EYE_BLINK_COLUMNS + EYE_GAZE_COLUMNS


class MotionSchemaError(PortraitTalkerError, ValueError):
    """A motion table does not match the schema or the head model it is applied to."""


def expression_columns(expression_names: list[str]) -> list[str]:
    return [EXP_PREFIX + name for name in expression_names]


def motion_columns(expression_names: list[str]) -> list[str]:
    return ["frame", "time_s", *expression_columns(expression_names), *POSE_COLUMNS]


def value_columns(expression_names: list[str]) -> list[str]:
    """The motion columns :class:`MotionFrames` holds: all but ``frame`` and ``time_s``."""
    return motion_columns(expression_names)[2:]


def target_columns(expression_names: list[str], predict_gaze: bool) -> list[str]:
    """Motion-table columns the model predicts, in output order."""
    columns = [*expression_columns(expression_names), *JAW_COLUMNS, *HEAD_ROT_COLUMNS, *HEAD_TRANS_COLUMNS,
               *EYE_BLINK_COLUMNS]
    return columns + EYE_GAZE_COLUMNS if predict_gaze else columns


def sample_blinks(n_frames: int, seed: int, mean_interval_s: float = 3.5) -> np.ndarray:
    """(n_frames, 2) natural blinks: gamma-distributed intervals, ~0.2 s close-open, both eyes together."""
    rng = np.random.default_rng(seed)
    blink = np.zeros(n_frames, dtype=np.float32)
    shape = np.array([0.35, 0.8, 1.0, 0.7, 0.35, 0.1], dtype=np.float32)  # 6 frames = 0.24 s
    t = rng.uniform(0.3, mean_interval_s) * FPS
    while t < n_frames:
        start = int(t)
        stop = min(start + len(shape), n_frames)
        blink[start:stop] = np.maximum(blink[start:stop], shape[: stop - start])
        t += rng.gamma(4.0, mean_interval_s / 4.0) * FPS + len(shape)
    return np.repeat(blink[:, None], 2, axis=1)


@dataclass
class MotionFrames:
    """(T, C) float32 motion values in :func:`value_columns` order, for one head model."""

    values: np.ndarray
    head_model: str
    expression_names: list[str]
    fps: float = FPS

    def __post_init__(self) -> None:
        columns = value_columns(self.expression_names)
        if self.values.ndim != 2 or self.values.shape[1] != len(columns):
            raise ValueError(f"motion values: expected shape (T, {len(columns)}), got {self.values.shape}")

    def __len__(self) -> int:
        return len(self.values)

    @property
    def columns(self) -> list[str]:
        return value_columns(self.expression_names)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.columns.index(name)]

    def check_head(self, head: HeadLike) -> None:
        if head.name != self.head_model or list(head.expression_names) != self.expression_names:
            raise MotionSchemaError(
                f"motion was made for head model {self.head_model!r} ({len(self.expression_names)} expressions) "
                f"but is applied to {head.name!r} ({len(head.expression_names)} expressions)"
            )

    def head_params(self, head: HeadLike, identity: np.ndarray | None = None) -> HeadParams:
        """Per-frame :class:`HeadParams` of float32 numpy arrays (B = frames); ``identity`` defaults to zeros."""
        self.check_head(head)
        index = {c: i for i, c in enumerate(self.columns)}

        def block(columns: list[str]) -> np.ndarray:
            return np.ascontiguousarray(self.values[:, [index[c] for c in columns]])

        identity = np.zeros((1, head.n_identity), np.float32) if identity is None else as_numpy(identity)
        return HeadParams(
            identity=identity.reshape(1, -1).astype(np.float32),
            expression=block(expression_columns(self.expression_names)),
            jaw=block(JAW_COLUMNS),
            head_rotation=block(HEAD_ROT_COLUMNS),
            head_translation=block(HEAD_TRANS_COLUMNS),
            eye_blink=block(EYE_BLINK_COLUMNS),
            eye_gaze=block(EYE_GAZE_COLUMNS),
        )
