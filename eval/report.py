"""``report.html``: one self-contained page (plots and frames embedded as base64).

Sections: summary (measured metrics, unavailable ones with reasons, notes), comparison with the
PortraitTalker paper's *reported* HDTF numbers beside what was *measured* here and on which data,
per-view table and bars, mouth opening vs speech envelope plots, offset histogram, frame strips,
embedded videos and the per-video table.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from PIL import Image

from portraittalker.media.files import write_text_atomic

if TYPE_CHECKING:
    from eval.schema import EvalConfig, VideoEvaluation

TEMPLATES = Path(__file__).parent / "templates"
METRIC_LABELS = {
    "lse_c": "LSE-C (SyncNet confidence)", "lse_d": "LSE-D (SyncNet distance)", "lse_offset": "SyncNet offset (frames)",
    "av_offset_frames": "A/V offset, mouth vs speech onsets (frames; not LSE)",
    "av_sync_confidence": "A/V sync confidence, mouth vs speech onsets (not LSE)",
    "mouth_corr": "Mouth-opening correlation with reference", "lmd_mouth": "LMD mouth (px @256)",
    "lmd_face": "LMD face (px @256)", "adfd": "ADFD (ours, see docs)", "jitter": "Landmark jitter (IOD units)",
    "blink_rate_per_min": "Blinks per minute", "identity_drift": "Identity shape drift (IOD units)",
    "psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS (AlexNet v0.1)", "clip_t": "CLIP-T (cosine)",
    "fid": "FID", "kid": "KID",
}


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def mouth_speech_plot(result: VideoEvaluation) -> str | None:
    """Mouth opening (generated, reference) and speech envelope over time, z-scored."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = result.series
    if "mouth_opening" not in series:
        return None

    def z(x: np.ndarray) -> np.ndarray:
        return (x - np.nanmean(x)) / (np.nanstd(x) + 1e-9)

    fig, ax = plt.subplots(figsize=(9, 2.6))
    t = np.arange(len(series["mouth_opening"])) / 25.0
    ax.plot(t, z(series["speech_envelope"][:len(t)]), color="0.6", lw=1, label="speech envelope (log RMS)")
    ax.plot(t, z(series["mouth_opening"]), color="C0", lw=1.5, label="mouth opening (generated)")
    if "reference_mouth_opening" in series:
        ref = series["reference_mouth_opening"][:len(t)]
        ax.plot(t[:len(ref)], z(ref), color="C1", lw=1.2, ls="--", label="mouth opening (reference)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("z-score")
    ax.set_title(result.item.job_id, fontsize=9)
    ax.legend(fontsize=7, loc="upper right", ncol=3)
    return _png(fig)


def offset_histogram(table: pd.DataFrame) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in ("av_offset_frames", "lse_offset") if c in table and table[c].notna().any()]
    if not columns:
        return None
    fig, ax = plt.subplots(figsize=(6, 2.6))
    bins = np.arange(-15.5, 16.5, 1)
    for column in columns:
        ax.hist(table[column].dropna(), bins=bins, alpha=0.6, label=METRIC_LABELS[column])
    ax.set_xlabel("offset (frames; positive = audio leads video)")
    ax.set_ylabel("videos")
    ax.legend(fontsize=7)
    return _png(fig)


def view_bars(by_view: pd.DataFrame) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if by_view.empty:
        return None
    metrics = [c for c in by_view.columns if c != "view" and by_view[c].notna().any()]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.4 * len(metrics), 2.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        ax.bar(range(len(by_view)), by_view[metric].to_numpy(dtype=float), color="C2")
        ax.set_xticks(range(len(by_view)), by_view["view"], rotation=45, fontsize=6, ha="right")
        ax.set_title(metric, fontsize=8)
    fig.tight_layout()
    return _png(fig)


def frame_strip(frames: np.ndarray, height: int = 120) -> str:
    tiles = []
    for frame in frames:
        image = Image.fromarray(frame)
        tiles.append(np.asarray(image.resize((max(1, round(image.width * height / image.height)), height))))
    buffer = io.BytesIO()
    Image.fromarray(np.concatenate(tiles, axis=1)).save(buffer, format="JPEG", quality=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_report(path: str | Path, *, metrics: dict[str, float], unavailable: dict[str, str], notes: list[str],
                 table: pd.DataFrame, results: list[VideoEvaluation], by_view: pd.DataFrame, config: EvalConfig,
                 generated: Any, reference: Any) -> Path:
    from eval.schema import PER_VIDEO_METRICS, REPORTED_HDTF

    source = "a DataFrame" if isinstance(generated, pd.DataFrame) else str(generated)
    data_note = (f"{int(metrics.get('n_evaluated', 0))} generated video(s) from {source}"
                 + (f", reference {reference}" if reference is not None else ", no reference"))
    comparison = [{"method": method + " (reported, paper, HDTF test set)",
                   **{k: _fmt(v) for k, v in numbers.items()}} for method, numbers in REPORTED_HDTF.items()]
    measured = {k: _fmt(metrics[k]) if k in metrics else "unavailable" for k in ("lse_c", "lse_d", "fid")}
    comparison.append({"method": f"This run (measured: {data_note})", **measured})
    summary = [{"key": k, "label": METRIC_LABELS.get(k, k), "value": _fmt(metrics[k]),
                "better": PER_VIDEO_METRICS.get(k, "lower" if k in ("fid", "kid") else "")}
               for k in [*PER_VIDEO_METRICS, "fid", "kid", "kid_std"] if k in metrics]
    extra = [{"key": k, "value": _fmt(v)} for k, v in metrics.items()
             if k not in PER_VIDEO_METRICS and k not in ("fid", "kid", "kid_std") and not k.startswith("view_")]
    videos = []
    for result in results[: max(config.report_strip_videos, config.report_plot_videos)]:
        entry: dict[str, Any] = {"job_id": result.item.job_id}
        if len(videos) < config.report_plot_videos:
            entry["plot"] = mouth_speech_plot(result)
        if len(videos) < config.report_strip_videos and result.frames is not None:
            entry["strip"] = frame_strip(result.frames)
            if result.reference_frames is not None:
                entry["reference_strip"] = frame_strip(result.reference_frames)
            video_path = Path(result.item.video_path)
            if video_path.is_file() and video_path.stat().st_size <= config.report_embed_max_mb * 1e6:
                entry["video_b64"] = base64.b64encode(video_path.read_bytes()).decode("ascii")
            else:
                entry["video_link"] = str(video_path)
        videos.append(entry)
    per_video_columns = ["job_id", "view", "status", *[c for c in PER_VIDEO_METRICS if table[c].notna().any()]]
    rows = [[_fmt(row.get(c)) for c in per_video_columns] for _, row in table.iterrows()]
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(
        data_note=data_note, summary=summary, extra=extra, unavailable=unavailable, notes=notes,
        comparison=comparison, by_view=by_view.to_dict("records") if not by_view.empty else [],
        view_columns=[c for c in by_view.columns if c != "view"], fmt=_fmt, view_plot=view_bars(by_view),
        offset_plot=offset_histogram(table), videos=videos, per_video_columns=per_video_columns, rows=rows,
    )
    write_text_atomic(path, html)
    return Path(path)
