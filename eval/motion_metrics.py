"""Motion metrics: a predicted motion table against a ground-truth one, on the head model's geometry.

All vertex metrics use the head's *unposed* deformation (``HeadModel.deform``: expression, jaw,
eyes; no rigid head pose), as VOCASET/BIWI meshes are, so lip metrics measure articulation, not pose.

- ``lve_sq_mm2``: lip vertex error as FaceFormer/CodeTalker compute it — per frame the **maximum
  squared** L2 distance over the head's lip vertices, averaged over frames — in mm². (Their papers
  quote the same quantity on VOCASET in m², e.g. "×1e-5 mm" in tables is a misnomer for m².)
- ``lve_mm``: the same with the plain (not squared) L2 distance, in mm — easier to read.
- ``fdd_mm2``: upper-face dynamics deviation (CodeTalker): per upper-face vertex, the standard
  deviation over time of the squared displacement norm from the neutral face; mean over
  vertices; ground truth minus prediction, in mm² (positive = prediction moves the upper face too little).
- ``mouth_open_corr``: Pearson correlation of the inner-lip opening (distance between the 68-point
  landmarks 62 and 66) of prediction and truth.
- ``av_offset_frames``: the lag (frames, within ±``max_lag``) maximising the correlation of the two
  mouth-opening curves; positive = the prediction lags the truth.
- ``head_rot_rmse_deg``: RMS error of head rotation angles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from portraittalker.errors import PortraitTalkerError
from portraittalker.head.base import HeadModel
from portraittalker.motion.dataset import load_motion_clips
from portraittalker.motion.model import VertexSubsetDeformer
from portraittalker.motion.schema import HEAD_ROT_COLUMNS, MotionTable, motion_columns

M_TO_MM = 1000.0
UPPER_LIP_INNER, LOWER_LIP_INNER = 62, 66  # 68-point landmark indices (inner lip, centre)
METRIC_NAMES = ("lve_mm", "lve_sq_mm2", "fdd_mm2", "mouth_open_corr", "av_offset_frames", "head_rot_rmse_deg")


class MotionEvalError(PortraitTalkerError, ValueError):
    """Inputs to a motion metric are inconsistent (head model, empty tables)."""


def _region_vertices(table: MotionTable, head: HeadModel) -> dict[str, np.ndarray]:
    """Unposed lip, upper-face and mouth-landmark vertices in mm, each (T, n, 3)."""
    table.check_head(head)
    lips, upper = head.lip_vertices.cpu(), head.upper_face_vertices.cpu()
    mouth = head.landmarks68[[UPPER_LIP_INNER, LOWER_LIP_INNER]].cpu()
    ids = torch.cat([lips, upper, mouth])
    deformer = VertexSubsetDeformer(head, ids)
    with torch.no_grad():
        params = table.to_head_params(head)
        vertices = deformer(params).numpy().astype(np.float64) * M_TO_MM
        neutral = deformer(head.neutral_params(1)).numpy().astype(np.float64)[0] * M_TO_MM
    n_lip, n_upper = len(lips), len(upper)
    return {
        "lips": vertices[:, :n_lip],
        "upper_motion": vertices[:, n_lip:n_lip + n_upper] - neutral[n_lip:n_lip + n_upper],
        "mouth": vertices[:, n_lip + n_upper:],
    }


def mouth_opening_mm(table: MotionTable, head: HeadModel) -> np.ndarray:
    """(T,) inner-lip opening in mm (unposed geometry)."""
    mouth = _region_vertices(table, head)["mouth"]
    return np.linalg.norm(mouth[:, 0] - mouth[:, 1], axis=-1)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 1e-12 else float("nan")


def av_offset_frames(pred: np.ndarray, truth: np.ndarray, max_lag: int = 10) -> int:
    """Lag maximising corr(pred[t + lag], truth[t]) over |lag| <= max_lag; > 0 means ``pred`` is late."""
    n = min(len(pred), len(truth))
    max_lag = min(max_lag, n - 2)
    if max_lag < 0:
        raise MotionEvalError(f"need at least 2 frames to estimate an offset, got {n}")
    best_lag, best = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        p = pred[max(lag, 0): n + min(lag, 0)]
        t = truth[max(-lag, 0): n - max(lag, 0)]
        value = pearson(p, t)
        # Ties resolve to the smallest |lag|; flat curves (NaN correlation) give lag 0.
        if np.isfinite(value) and (value > best + 1e-12 or (abs(value - best) <= 1e-12 and abs(lag) < abs(best_lag))):
            best_lag, best = lag, value
    return best_lag


def evaluate_motion(pred: MotionTable, truth: MotionTable, head: HeadModel, max_lag: int = 10) -> dict[str, float]:
    """All motion metrics of ``pred`` against ``truth`` (both for ``head``); lengths are cut to the shorter."""
    n = min(len(pred), len(truth))
    if n == 0:
        raise MotionEvalError("cannot evaluate empty motion tables")
    if abs(len(pred) - len(truth)) > 2:
        raise MotionEvalError(f"prediction has {len(pred)} frames but ground truth {len(truth)}: not the same clip?")
    pred_r = _region_vertices(_head_rows(pred, n), head)
    truth_r = _region_vertices(_head_rows(truth, n), head)
    lip_sq = ((pred_r["lips"] - truth_r["lips"]) ** 2).sum(-1)  # (T, L) mm²

    def dynamics(motion: np.ndarray) -> float:
        return float(((motion ** 2).sum(-1)).std(axis=0).mean())

    open_pred = np.linalg.norm(pred_r["mouth"][:, 0] - pred_r["mouth"][:, 1], axis=-1)
    open_true = np.linalg.norm(truth_r["mouth"][:, 0] - truth_r["mouth"][:, 1], axis=-1)
    rot_error = pred.frame_data[HEAD_ROT_COLUMNS].to_numpy()[:n] - truth.frame_data[HEAD_ROT_COLUMNS].to_numpy()[:n]
    return {
        "n_frames": float(n),
        "lve_mm": float(np.sqrt(lip_sq.max(axis=1)).mean()),
        "lve_sq_mm2": float(lip_sq.max(axis=1).mean()),
        "fdd_mm2": dynamics(truth_r["upper_motion"]) - dynamics(pred_r["upper_motion"]),
        "mouth_open_corr": pearson(open_pred, open_true),
        "av_offset_frames": float(av_offset_frames(open_pred, open_true, max_lag)),
        "head_rot_rmse_deg": float(np.degrees(np.sqrt((rot_error ** 2).mean()))),
    }


def _head_rows(table: MotionTable, n: int) -> MotionTable:
    if len(table) == n:
        return table
    return MotionTable(table.frame_data.iloc[:n].reset_index(drop=True), table.head_model, table.expression_names,
                       table.fps)


Generator = Callable[[np.ndarray], MotionTable]


def evaluate_generators(
    data_dirs: list[Path], generators: Mapping[str, Generator], head: HeadModel, split: str = "test",
    max_lag: int = 10,
) -> pd.DataFrame:
    """One row per (clip of ``split``, method): the clip's kind (real/synthetic), language and metrics.

    ``generators`` maps a method name to ``wave (16 kHz mono) -> MotionTable``, e.g.
    ``{"model": lambda w: model.animate(w, head), "baseline": BaselineLipSync(head).animate}``.
    Ground truth is ``truth.parquet`` for synthetic clips and the fitted ``frames.parquet`` for real ones.
    """
    columns = motion_columns(head.expression_names)[2:]
    clips = load_motion_clips(data_dirs, head.name, list(head.expression_names), columns, prefer_truth=True,
                              splits=(split,))
    if not clips:
        raise MotionEvalError(f"no '{split}' clips with status 'ok' in {', '.join(map(str, data_dirs))}")
    rows = []
    for clip in clips:
        truth = MotionTable.zeros(clip.n_frames, head)
        truth.frame_data[columns] = clip.targets
        for method, generate in generators.items():
            metrics = evaluate_motion(generate(clip.wave), truth, head, max_lag)
            rows.append({"clip_id": clip.clip_id, "kind": clip.kind, "language": clip.language,
                         "speaker_id": clip.speaker_id, "method": method, **metrics})
    return pd.DataFrame(rows)


def summarise_motion_table(per_clip: pd.DataFrame) -> pd.DataFrame:
    """Frame-weighted means per (kind, language, method), plus an ``all`` language row per kind and method."""
    if per_clip.empty:
        return per_clip
    everything = per_clip.assign(language="all")
    combined = pd.concat([per_clip, everything], ignore_index=True)
    rows = []
    for (kind, language, method), group in combined.groupby(["kind", "language", "method"], sort=True):
        weights = group["n_frames"].to_numpy()
        row = {"kind": kind, "language": language, "method": method, "n_clips": len(group),
               "n_frames": int(weights.sum())}
        for name in METRIC_NAMES:
            values = group[name].to_numpy(dtype=np.float64)
            ok = np.isfinite(values)
            row[name] = float(np.average(values[ok], weights=weights[ok])) if ok.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)
