"""Lip sync on real held-out speakers, judged the way a user would: speech in, video out, mouth tracked.

For every real clip of a prepared dataset's held-out split (speakers never seen in training), each motion
generator (the learned model, ``BaselineLipSync``) renders the clip's own speech with
:func:`portraittalker.pipeline.generate_video` (frontal, ``image_size``²); MediaPipe tracks the rendered head and
the real video, and we compare

- ``mouth_corr``: Pearson correlation at lag 0 of the two mouth openings (inner-lip gap / face height);
- ``mouth_corr_best_lag`` / ``best_lag``: the best correlation within ±``max_lag`` frames and its lag
  (positive = the generated mouth lags the real one);
- ``lmd_mouth``: mouth landmark distance after a per-frame similarity alignment on the rigid face points
  (brows, nose, eye corners, upper jaw), in px of a 256-px frame — the shape of the moving mouth, independent
  of where each face sits in its frame;
- ``open_ratio``: the generated mouth's opening range (95th - 5th percentile) over the real one's.

Outputs: ``heldout.parquet`` (one row per clip × generator), ``heldout.json`` (means/medians per generator),
``heldout.html`` (table, per-clip bars, mouth-opening traces) and the rendered videos.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eval.landmarks import RIGID_68, scaled68
from portraittalker.data.tables import CLIPS_FILE
from portraittalker.face.tracking import FaceTrack, track_video
from portraittalker.media.files import write_text_atomic

MOUTH_68 = np.arange(48, 68)
GENERATORS = ("model", "baseline")


@dataclass
class HeldoutClip:
    clip_id: str
    speaker_id: str
    audio: Path
    video: Path


def heldout_clips(dataset_dir: str | Path, split: str = "test", limit: int | None = None) -> list[HeldoutClip]:
    """Real (non-synthetic) ``ok`` clips of ``split`` in a prepared dataset."""
    dataset_dir = Path(dataset_dir)
    table = pd.read_parquet(dataset_dir / CLIPS_FILE)
    rows = table[(table["status"] == "ok") & (table["split"] == split) & (table["source"] != "synthetic")]
    clips = [HeldoutClip(r.clip_id, r.speaker_id, dataset_dir / r.audio_path, dataset_dir / r.video_path)
             for r in rows.itertuples() if r.audio_path and r.video_path]
    return clips[:limit] if limit else clips


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    valid = np.isfinite(a) & np.isfinite(b)
    if valid.sum() < 3 or a[valid].std() < 1e-9 or b[valid].std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a[valid], b[valid])[0, 1])


def lagged_correlation(generated: np.ndarray, real: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Best correlation over lags in ±max_lag and its lag (positive: ``generated`` is late)."""
    best, best_lag = -np.inf, 0
    for lag in range(-max_lag, max_lag + 1):
        a = generated[lag:] if lag >= 0 else generated[:lag]
        b = real[: len(a)] if lag >= 0 else real[-lag:][: len(a)]
        n = min(len(a), len(b))
        value = _corr(a[:n], b[:n])
        if np.isfinite(value) and value > best:
            best, best_lag = value, lag
    return float(best), best_lag


def aligned_mouth_lmd(generated: FaceTrack, real: FaceTrack) -> float:
    """Mean mouth-landmark distance after aligning each generated frame's rigid points onto the real frame's."""
    n = min(generated.n_frames, real.n_frames)
    gen, ref = scaled68(generated)[:n], scaled68(real)[:n]
    distances = []
    for g, r in zip(gen, ref, strict=True):
        if not (np.isfinite(g).all() and np.isfinite(r).all()):
            continue
        aligned = _similarity(g, r, RIGID_68)
        distances.append(np.linalg.norm(aligned[MOUTH_68] - r[MOUTH_68], axis=1).mean())
    return float(np.mean(distances)) if distances else float("nan")


def _similarity(points: np.ndarray, target: np.ndarray, subset: np.ndarray) -> np.ndarray:
    """``points`` moved by the similarity transform that best maps ``points[subset]`` onto ``target[subset]``."""
    src, dst = points[subset], target[subset]
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    a, b = src - src_mean, dst - dst_mean
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    correction = np.diag([1.0, d])
    rotation = u @ correction @ vt
    scale = (s * np.diag(correction)).sum() / max((a ** 2).sum(), 1e-12)
    return (points - src_mean) @ rotation * scale + dst_mean


def score_clip(generated: FaceTrack, real: FaceTrack, max_lag: int = 8) -> dict[str, float]:
    n = min(generated.n_frames, real.n_frames)
    gen_open, real_open = generated.mouth_opening()[:n], real.mouth_opening()[:n]
    best, lag = lagged_correlation(gen_open, real_open, max_lag)

    def spread(x: np.ndarray) -> float:
        x = x[np.isfinite(x)]
        return float(np.percentile(x, 95) - np.percentile(x, 5)) if len(x) else float("nan")

    return {"mouth_corr": _corr(gen_open, real_open), "mouth_corr_best_lag": best, "best_lag": float(lag),
            "lmd_mouth": aligned_mouth_lmd(generated, real), "open_ratio": spread(gen_open) / max(spread(real_open),
                                                                                                  1e-9),
            "face_frames": float(np.isfinite(gen_open).mean())}


def evaluate_heldout(dataset_dir: str | Path, out_dir: str | Path, params: Any, *, split: str = "test",
                     generators: tuple[str, ...] = GENERATORS, prompt: str = "a middle-aged person, soft light",
                     limit: int | None = None, progress: bool = True,
                     speech_dir: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Render, track and score every held-out real clip with every generator; write the tables and the page."""
    from portraittalker.config import load_params
    from portraittalker.pipeline import generate_video

    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    clips = heldout_clips(dataset_dir, split, limit)
    if not clips:
        raise ValueError(f"{dataset_dir} has no real clips in split {split!r} to evaluate lip sync on")
    settings = {name: load_params(overrides={**params.model_dump(mode="json"),
                                             "motion": {**params.motion.model_dump(mode="json"), "generator": name}})
                for name in generators}
    rows, traces = [], {}
    iterator = clips
    if progress:
        from tqdm import tqdm

        iterator = tqdm(clips, desc="held-out lip sync", unit="clip")
    for clip in iterator:
        real = track_video(clip.video, max_faces=1)
        for name in generators:
            video = out_dir / "videos" / f"{clip.clip_id}.{name}.mp4"
            generate_video(prompt, clip.audio, video, settings[name], force=True)
            generated = track_video(video, max_faces=1)
            rows.append({"clip_id": clip.clip_id, "speaker_id": clip.speaker_id, "generator": name,
                         "frames": min(generated.n_frames, real.n_frames), **score_clip(generated, real)})
            traces[(clip.clip_id, name)] = generated.mouth_opening()
        traces[(clip.clip_id, "real")] = real.mouth_opening()
    table = pd.DataFrame(rows)
    summary = summarise(table)
    languages = None
    if speech_dir is not None:
        from portraittalker.head import head_from_config
        from portraittalker.pipeline import make_motion_generator

        head = head_from_config(params.head)
        animators = {name: make_motion_generator(settings[name], head).animate for name in generators}
        languages = language_mouth_stats(animators, head, speech_dir)
        languages.to_parquet(out_dir / "languages.parquet", index=False)
        for row in languages.to_dict("records"):
            key = str(row["language"]).split(" ")[0]
            summary[f"lang_{key}_{row['generator']}_open_frac"] = row["open_frac"]
            summary[f"lang_{key}_{row['generator']}_gap_p95_mm"] = row["gap_p95_mm"]
    table.to_parquet(out_dir / "heldout.parquet", index=False)
    write_text_atomic(out_dir / "heldout.json", json.dumps(summary, indent=1, sort_keys=True))
    write_heldout_page(out_dir / "heldout.html", table, summary, traces, languages)
    return table, summary


def summarise(table: pd.DataFrame) -> dict[str, float]:
    """``heldout_<generator>_<metric>_mean|median`` over clips, plus the model's margin over the baseline."""
    summary: dict[str, float] = {"heldout_clips": float(table["clip_id"].nunique())}
    for name, group in table.groupby("generator"):
        for metric in ("mouth_corr", "mouth_corr_best_lag", "lmd_mouth", "open_ratio"):
            values = group[metric].astype(float)
            summary[f"heldout_{name}_{metric}_mean"] = float(values.mean())
            summary[f"heldout_{name}_{metric}_median"] = float(values.median())
    if {"heldout_model_mouth_corr_mean", "heldout_baseline_mouth_corr_mean"} <= summary.keys():
        summary["heldout_model_minus_baseline_mouth_corr"] = (summary["heldout_model_mouth_corr_mean"]
                                                              - summary["heldout_baseline_mouth_corr_mean"])
    return summary


def _figure_png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_heldout_page(path: Path, table: pd.DataFrame, summary: dict[str, float],
                       traces: dict[tuple[str, str], np.ndarray], languages: pd.DataFrame | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pivot = table.pivot(index="clip_id", columns="generator", values="mouth_corr")
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(pivot)), 3.2))
    pivot.plot.bar(ax=ax)
    ax.set_ylabel("mouth-opening correlation"), ax.axhline(0, color="k", lw=0.5)
    ax.set_title("Real held-out speakers: rendered mouth vs the real speaker's (lag 0)")
    bars = _figure_png(fig)
    trace_pngs = []
    for clip_id in list(pivot.index)[:6]:
        fig, ax = plt.subplots(figsize=(9, 2.2))
        for name, style in (("real", "k-"), ("model", "C0-"), ("baseline", "C1--")):
            curve = traces.get((clip_id, name))
            if curve is not None:
                z = (curve - np.nanmean(curve)) / (np.nanstd(curve) + 1e-9)
                ax.plot(np.arange(len(z)) / 25.0, z, style, lw=1, label=name)
        ax.set_title(clip_id, fontsize=9), ax.set_xlabel("s"), ax.legend(fontsize=7, loc="upper right")
        trace_pngs.append(_figure_png(fig))
    cells = "".join(f"<tr><td>{k}</td><td>{v:.3f}</td></tr>" for k, v in sorted(summary.items()))
    rows = table.round(3).to_html(index=False)
    images = "".join(f'<img src="data:image/png;base64,{png}"><br>' for png in trace_pngs)
    html = (f"<html><head><meta charset='utf-8'><title>Held-out lip sync</title></head><body>"
            f"<h1>Lip sync on real held-out speakers</h1><p>Each clip's own speech rendered frontally by each "
            f"generator; MediaPipe mouth opening of the render vs the real video.</p>"
            f"<table border=1>{cells}</table><img src='data:image/png;base64,{bars}'><h2>Per clip</h2>{rows}"
            f"<h2>Mouth opening over time (z-scored)</h2>{images}"
            + ("" if languages is None else "<h2>Mouth opening per language (inner-lip gap, mm; silence must stay "
               "closed)</h2>" + languages.round(3).to_html(index=False))
            + "</body></html>")
    write_text_atomic(path, html)
    return path


KOREAN_TEXT = "안녕하세요. 오늘은 날씨가 정말 좋네요. 저는 말하는 얼굴입니다."


def language_mouth_stats(generators: dict[str, Any], head: Any, speech_dir: str | Path | None,
                         silence_s: float = 4.0) -> pd.DataFrame:
    """Mouth-opening statistics (inner-lip gap, mm) per language and generator, plus silence.

    Inputs: the real speech files of ``speech_dir`` (English, Japanese, Mandarin), espeak-ng Korean, and
    ``silence_s`` of digital silence. ``open_frac`` is the share of frames with the lips > 2 mm apart;
    ``energy_corr`` the correlation of the gap with the speech's RMS envelope (a plausibility check for
    languages without video: the mouth should open when there is voice).
    """
    from eval.probe import mouth_gap_function
    from portraittalker.media.audio import load_audio
    from portraittalker.motion.schema import expression_columns
    from portraittalker.speech.tts import synthesize_speech

    inputs: dict[str, np.ndarray] = {}
    folder = Path(speech_dir) if speech_dir else None
    named = {"RD_Radio31_000.wav": "en", "japanese.wav": "ja", "chinese_news.wav": "cmn"}
    if folder is not None and folder.is_dir():
        for file, language in named.items():
            if (folder / file).is_file():
                inputs[language] = load_audio(folder / file).samples
    inputs["ko (espeak-ng)"] = synthesize_speech(KOREAN_TEXT, "ko").samples
    inputs["silence"] = np.zeros(int(silence_s * 16_000), np.float32)
    rows = []
    for name, animate in generators.items():
        for language, wave in inputs.items():
            table = animate(wave, seed=0)
            columns = [*expression_columns(head.expression_names), "jaw_rot_x", "jaw_rot_y", "jaw_rot_z"]
            gap = mouth_gap_function(head, columns)(table.frame_data[columns].to_numpy(np.float32))
            gap = gap - np.percentile(gap, 1) if language != "silence" else gap - _closed_gap(head)
            frames = len(gap)
            padded = np.pad(wave, (0, max(0, frames * 640 - len(wave))))[: frames * 640]
            rms = np.sqrt(np.mean(padded.reshape(frames, 640) ** 2, axis=1))
            rows.append({"generator": name, "language": language, "frames": frames,
                         "gap_mean_mm": float(gap.mean()), "gap_p95_mm": float(np.percentile(gap, 95)),
                         "open_frac": float((gap > 2.0).mean()),
                         "energy_corr": _corr(gap, rms) if language != "silence" else float("nan")})
    return pd.DataFrame(rows)


def _closed_gap(head: Any) -> float:
    """The inner-lip gap of the neutral face (what silence should stay at)."""
    from eval.probe import mouth_gap_function
    from portraittalker.motion.schema import expression_columns

    columns = [*expression_columns(head.expression_names), "jaw_rot_x", "jaw_rot_y", "jaw_rot_z"]
    return float(mouth_gap_function(head, columns)(np.zeros((1, len(columns)), np.float32))[0])
