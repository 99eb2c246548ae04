"""How well ``prepare`` recovers the motion a synthetic clip was rendered from.

A synthetic corpus (:mod:`portraittalker.data.synth`) stores the exact motion of every frame in
``truth.parquet``; after ``prepare`` tracks and fits its MP4s, this module compares the fitted
``frames.parquet`` rows with the truth, per clip:

- ``lip_gap_mae_mm`` / ``lip_gap_corr``: inner-lip gap (ICT landmarks 62/66) through the head model,
  each side with its own identity — the quantity lip-sync depends on;
- ``jaw_open_mae_rad`` / ``jaw_open_corr``: the ``jaw_rot_x`` control;
- ``head_rot_mae_deg`` (absolute) and ``head_rot_dyn_mae_deg`` (after removing each clip's mean, i.e. the
  motion without a constant pose bias);
- ``blink_mae``: ``eye_blink_l/r``; ``expression_mae``: mean over the shared ``exp_*`` columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from portraittalker.data.tables import IDENTITY_COLUMN
from portraittalker.head.base import HeadModel
from portraittalker.motion.schema import (
    EYE_BLINK_COLUMNS,
    HEAD_ROT_COLUMNS,
    MotionTable,
    expression_columns,
)

INNER_LIP_UPPER, INNER_LIP_LOWER = 62, 66  # Multi-PIE 68-point indices


def _identity(value: object, n_identity: int) -> torch.Tensor:
    coefficients = np.zeros(n_identity, dtype=np.float32)
    if isinstance(value, str) and value:
        value = json.loads(value)
    if value is not None and len(value):
        values = np.asarray(value, dtype=np.float32)[:n_identity]
        coefficients[: len(values)] = values
    return torch.from_numpy(coefficients)[None]


def lip_gap_mm(motion: pd.DataFrame, head: HeadModel, identity: torch.Tensor) -> np.ndarray:
    """(N,) inner-lip gap in millimetres for motion rows of ``head``."""
    table = MotionTable(motion.reset_index(drop=True).assign(frame=np.arange(len(motion))), head.name,
                        list(head.expression_names))
    with torch.inference_mode():
        vertices = head(table.to_head_params(head, identity))
    lips = vertices[:, head.landmarks68[[INNER_LIP_UPPER, INNER_LIP_LOWER]]]
    return (lips[:, 0] - lips[:, 1]).norm(dim=-1).numpy() * 1000.0


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def clip_recovery(fitted: pd.DataFrame, truth: pd.DataFrame, head: HeadModel, fitted_identity: object = None,
                  truth_identity: object = None) -> dict[str, float]:
    """Recovery errors for one clip; rows are matched on ``frame``."""
    merged = fitted.merge(truth, on="frame", suffixes=("_fit", "_true"))
    if merged.empty:
        raise ValueError("fitted and truth tables share no frames")

    def pair(column: str) -> tuple[np.ndarray, np.ndarray]:
        return merged[f"{column}_fit"].to_numpy(np.float64), merged[f"{column}_true"].to_numpy(np.float64)

    def side(suffix: str) -> pd.DataFrame:
        columns = {c: c.removesuffix(suffix) for c in merged.columns if c.endswith(suffix)}
        return merged[list(columns)].rename(columns=columns)

    result: dict[str, float] = {"n_frames": float(len(merged))}
    gap_fit = lip_gap_mm(side("_fit"), head, _identity(fitted_identity, head.n_identity))
    gap_true = lip_gap_mm(side("_true"), head, _identity(truth_identity, head.n_identity))
    result["lip_gap_mae_mm"] = float(np.abs(gap_fit - gap_true).mean())
    result["lip_gap_corr"] = _corr(gap_fit, gap_true)
    jaw_fit, jaw_true = pair("jaw_rot_x")
    result["jaw_open_mae_rad"] = float(np.abs(jaw_fit - jaw_true).mean())
    result["jaw_open_corr"] = _corr(jaw_fit, jaw_true)
    rot_fit = np.stack([pair(c)[0] for c in HEAD_ROT_COLUMNS], 1)
    rot_true = np.stack([pair(c)[1] for c in HEAD_ROT_COLUMNS], 1)
    result["head_rot_mae_deg"] = float(np.degrees(np.abs(rot_fit - rot_true)).mean())
    dynamic = (rot_fit - rot_fit.mean(0)) - (rot_true - rot_true.mean(0))
    result["head_rot_dyn_mae_deg"] = float(np.degrees(np.abs(dynamic)).mean())
    result["blink_mae"] = float(np.mean([np.abs(np.subtract(*pair(c))).mean() for c in EYE_BLINK_COLUMNS]))
    shared = [c for c in expression_columns(head.expression_names) if f"{c}_fit" in merged and f"{c}_true" in merged]
    if shared:
        result["expression_mae"] = float(np.mean([np.abs(np.subtract(*pair(c))).mean() for c in shared]))
    return result


def recovery_table(prepared_dir: str | Path, corpus_dir: str | Path, head: HeadModel) -> pd.DataFrame:
    """Per-clip recovery errors for every synthetic clip that ``prepare`` fitted (``status == ok``)."""
    from portraittalker.data.tables import CLIPS_FILE, FRAMES_FILE, TRUTH_FILE, read_table

    prepared_dir, corpus_dir = Path(prepared_dir), Path(corpus_dir)
    clips, _ = read_table(prepared_dir / CLIPS_FILE)
    frames, _ = read_table(prepared_dir / FRAMES_FILE)
    truth, _ = read_table(corpus_dir / TRUTH_FILE)
    corpus_path = corpus_dir / "corpus.parquet"
    corpus = read_table(corpus_path)[0] if corpus_path.is_file() else pd.DataFrame(columns=["clip_id"])
    truth_identity = dict(zip(corpus["clip_id"], corpus.get(IDENTITY_COLUMN, [None] * len(corpus)), strict=True))
    fitted_identity = dict(zip(clips["clip_id"], clips.get(IDENTITY_COLUMN, [None] * len(clips)), strict=True))
    rows = []
    ok = clips[(clips["status"] == "ok") & clips["clip_id"].isin(truth["clip_id"])]
    for clip in ok.itertuples():
        errors = clip_recovery(frames[frames["clip_id"] == clip.clip_id], truth[truth["clip_id"] == clip.clip_id],
                               head, fitted_identity.get(clip.clip_id), truth_identity.get(clip.clip_id))
        rows.append({"clip_id": clip.clip_id, "language": clip.language, **errors})
    return pd.DataFrame(rows)


def summarise_recovery(table: pd.DataFrame) -> dict[str, float]:
    """Mean of each error over clips, overall and per language (``recovery.<lang>.<metric>``)."""
    metrics = [c for c in table.columns if c not in ("clip_id", "language", "n_frames")]
    summary = {f"recovery.{m}": float(table[m].mean()) for m in metrics}
    for language, group in table.groupby("language"):
        summary.update({f"recovery.{language}.{m}": float(group[m].mean()) for m in metrics})
    return summary
