"""Novel-view protocol (as in Talk3D): the same job rendered at four (yaw, pitch) camera offsets.

The generate flow renders the views (:data:`portraittalker.render.views.NOVEL_VIEWS`); here we name them,
build the evaluation table from a ``{(yaw, pitch): video}`` mapping and aggregate per-video metrics per view.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from portraittalker.render.views import NOVEL_VIEWS


def view_name(yaw_deg: float, pitch_deg: float) -> str:
    return f"yaw{yaw_deg:+g}_pitch{pitch_deg:+g}"


def novel_views() -> list[tuple[float, float]]:
    """The four (yaw, pitch) views in degrees, in protocol order."""
    return list(NOVEL_VIEWS)


def views_table(view_videos: Mapping[tuple[float, float], str | Path], job_id: str = "job",
                audio_path: str | Path | None = None, prompt: str | None = None) -> pd.DataFrame:
    """Results-table rows (one per view) that :func:`eval.evaluate.evaluate` accepts as ``generated``."""
    rows = []
    for (yaw, pitch), video in view_videos.items():
        rows.append({"job_id": f"{job_id}@{view_name(yaw, pitch)}", "reference_id": job_id, "video_path": str(video),
                     "audio_path": str(audio_path) if audio_path else None, "status": "ok", "prompt": prompt,
                     "view": view_name(yaw, pitch), "yaw_deg": yaw, "pitch_deg": pitch})
    return pd.DataFrame(rows)


def aggregate_by_view(per_video: pd.DataFrame, metric_columns: list[str]) -> pd.DataFrame:
    """Mean of each metric per view (rows: views in protocol order first; NaN = unavailable)."""
    if "view" not in per_video or per_video["view"].isna().all():
        return pd.DataFrame(columns=["view", *metric_columns])
    table = per_video.dropna(subset=["view"]).groupby("view")[metric_columns].mean(numeric_only=True)
    order = [view_name(*v) for v in NOVEL_VIEWS if view_name(*v) in table.index]
    order += [v for v in table.index if v not in order]
    return table.loc[order].reset_index()
