"""Library entry of the evaluation stage: ``evaluate(generated, reference, out_dir, config) -> dict``.

Writes ``metrics.json`` (flat numeric keys for ``dvc metrics diff``), ``unavailable.json`` (metric ->
reason), ``per_video.parquet`` and ``report.html``. Metrics that cannot be computed (missing weights,
no face, no reference, too short) are reported as unavailable with the reason, never estimated.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eval.common import (
    VIDEO_SUFFIXES,
    EvalInputError,
    MetricUnavailable,
    load_audio_16k,
    read_video_rgb,
    track_frames,
)
from eval.schema import DATASET_METRICS, PER_VIDEO_METRICS, EvalConfig, VideoEvaluation, VideoItem
from eval.views import aggregate_by_view
from portraittalker.media.files import write_text_atomic

log = logging.getLogger(__name__)

TABLE_SUFFIXES = (".parquet", ".csv")


# ---------------------------------------------------------------- inputs


def resolve_items(path: str | Path | pd.DataFrame, ok_statuses: list[str] | None = None) -> list[VideoItem]:
    """A video file, a folder of videos, a results table (parquet/csv) or a DataFrame -> items to evaluate.

    Results tables need ``job_id, video_path, status`` (``audio_path``, ``prompt``, ``view``,
    ``reference_id`` optional); relative paths are relative to the table's folder. Rows whose status
    is not in ``ok_statuses`` are kept with their status and not evaluated.
    """
    ok_statuses = ok_statuses or ["ok"]
    if isinstance(path, pd.DataFrame):
        return _items_from_table(path, Path.cwd(), ok_statuses, "<DataFrame>")
    path = Path(path)
    if not path.exists():
        raise EvalInputError(f"evaluation input not found: {path}")
    if path.is_dir():
        videos = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise EvalInputError(f"{path}: folder holds no videos ({', '.join(VIDEO_SUFFIXES)})")
        return [VideoItem(job_id=p.stem, video_path=p) for p in videos]
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return [VideoItem(job_id=path.stem, video_path=path)]
    if path.suffix.lower() in TABLE_SUFFIXES:
        try:
            table = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
        except Exception as error:
            raise EvalInputError(f"{path}: cannot read results table ({error})") from error
        return _items_from_table(table, path.parent, ok_statuses, str(path))
    raise EvalInputError(f"{path}: expected a video ({', '.join(VIDEO_SUFFIXES)}), a folder or a .parquet/.csv table")


def _items_from_table(table: pd.DataFrame, base: Path, ok_statuses: list[str], name: str) -> list[VideoItem]:
    missing = [c for c in ("job_id", "video_path") if c not in table.columns]
    if missing:
        raise EvalInputError(f"{name}: results table lacks column(s) {missing} (needs job_id, video_path, status)")

    def optional(row: pd.Series, column: str) -> Any:
        value = row.get(column)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

    def resolve(value: Any) -> Path | None:
        if value is None:
            return None
        candidate = Path(str(value))
        return candidate if candidate.is_absolute() else base / candidate

    items = []
    for _, row in table.iterrows():
        status = str(optional(row, "status") or "ok")
        video = resolve(optional(row, "video_path"))
        if video is None:
            status = status if status not in ok_statuses else "no_video"
            video = Path("")
        items.append(VideoItem(
            job_id=str(row["job_id"]), video_path=video, audio_path=resolve(optional(row, "audio_path")),
            prompt=optional(row, "prompt") or optional(row, "text"), view=optional(row, "view"), status=status,
            reference_id=str(optional(row, "reference_id")) if optional(row, "reference_id") else None,
        ))
    return items


def pair_references(items: list[VideoItem], reference: str | Path | None,
                    ok_statuses: list[str] | None = None) -> dict[str, Path]:
    """Map job_id -> reference video: a single video pairs with every item; folders/tables match by id/stem."""
    if reference is None:
        return {}
    reference = Path(reference)
    if reference.is_file() and reference.suffix.lower() in VIDEO_SUFFIXES:
        return {item.job_id: reference for item in items}
    candidates = {ref.job_id: ref.video_path for ref in resolve_items(reference, ok_statuses)}
    pairs = {}
    for item in items:
        for key in (item.reference_id, item.job_id, item.video_path.stem):
            if key and key in candidates:
                pairs[item.job_id] = candidates[key]
                break
    return pairs


# ---------------------------------------------------------------- per-video metrics


class _Models:
    """The weighted models, loaded once from the user's local files (nothing is downloaded).

    A family whose file is not configured is unavailable with the reason (which file, where to get it); a
    file that is configured but missing or unreadable (junk, a pickle with code, another network's weights)
    raises :class:`WeightsError`: the user asked for that metric, so it is an error, not "unavailable".
    """

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self.reasons: dict[str, str] = {}
        self.syncnet = self._load_lse()
        self.inception = self._load("fid", config.inception_weights,
                                    "--inception-weights (pt_inception-2015-12-05-6726825d.pth)",
                                    lambda path, device: _load_inception(path, device, config.fid.dims))
        self.clip = self._load("clip_t", config.clip_model, "--clip (local CLIP model folder)", _load_clip)
        self.lpips = self._load_lpips()

    def _load(self, family: str, path: Path | None, option: str, loader: Callable[[Path, str], Any]) -> Any:
        if path is None:
            self.reasons[family] = f"no weights given ({option})"
            return None
        return loader(Path(path), self.config.device)

    def _load_lse(self) -> Any:
        # syncnet-python's pipeline needs two files: SyncNet and the S3FD face detector.
        from eval.lse import load_s3fd_network, load_syncnet_model, load_syncnet_pipeline, missing_weights_reason

        syncnet, s3fd = self.config.syncnet_weights, self.config.s3fd_weights
        if syncnet is None or s3fd is None:
            self.reasons["lse"] = missing_weights_reason(syncnet, s3fd)
            if syncnet is not None or s3fd is not None:  # the file that was given must still be readable
                if syncnet is not None:
                    load_syncnet_model(syncnet)
                else:
                    load_s3fd_network(s3fd)
                log.warning("LSE-C/LSE-D unavailable: %s", self.reasons["lse"])
            return None
        return load_syncnet_pipeline(syncnet, s3fd, self.config.lse, self.config.device)

    def _load_lpips(self) -> Any:
        # Two files (backbone + linear heads), so it does not fit the one-path ``_load``.
        from eval.lpips import check_lpips_file, load_lpips, missing_weights_reason

        backbone, linear = self.config.lpips_backbone_weights, self.config.lpips_linear_weights
        if backbone is None or linear is None:
            self.reasons["lpips"] = missing_weights_reason(backbone, linear)
            if backbone is not None or linear is not None:  # the file that was given must still be readable
                check_lpips_file(backbone, linear)
                log.warning("LPIPS unavailable: %s", self.reasons["lpips"])
            return None
        return load_lpips(backbone, linear, self.config.device)


def _load_inception(path: Path, device: str, dims: int) -> Any:
    from eval.fid import load_inception

    return load_inception(path, device, dims)


def _load_clip(path: Path, device: str) -> Any:
    from eval.clip_score import ClipScorer

    return ClipScorer(path, device)


def _attempt(result: VideoEvaluation, names: tuple[str, ...], compute: Callable[[], dict[str, float] | float]) -> None:
    try:
        value = compute()
    except MetricUnavailable as error:
        for name in names:
            result.unavailable[name] = str(error)
        return
    if isinstance(value, dict):
        result.values.update(value)
    else:
        result.values[names[0]] = float(value)


class _ReferenceCache:
    def __init__(self, max_frames: int | None) -> None:
        self.max_frames = max_frames
        self._cache: dict[Path, tuple[np.ndarray, Any]] = {}

    def get(self, path: Path) -> tuple[np.ndarray, Any]:
        if path not in self._cache:
            frames = read_video_rgb(path, self.max_frames)
            self._cache[path] = (frames, track_frames(frames))
        return self._cache[path]


def evaluate_video(item: VideoItem, reference_path: Path | None, models: _Models, references: _ReferenceCache,
                   config: EvalConfig, fid_features: dict[str, list[np.ndarray]]) -> VideoEvaluation:
    """All per-video metrics of one generated video (and its FID features, appended to ``fid_features``)."""
    from eval import image_metrics, landmarks, sync_offset

    result = VideoEvaluation(item=item, reference_path=reference_path)
    frames = read_video_rgb(item.video_path, config.max_frames)
    track = track_frames(frames)
    result.values["face_detected_fraction"] = float(track.detected.mean())
    result.frames = frames[np.linspace(0, len(frames) - 1, min(6, len(frames))).astype(int)]
    try:
        audio = load_audio_16k(item.audio_path or item.video_path)
    except MetricUnavailable as error:
        audio, audio_reason = None, str(error)

    def sync() -> dict[str, float]:
        if audio is None:
            raise MetricUnavailable(audio_reason)
        estimate = sync_offset.estimate_av_offset(track.mouth_opening(), audio, config.sync_offset)
        result.series["mouth_opening"] = track.mouth_opening()
        result.series["speech_envelope"] = sync_offset.speech_envelope(audio, track.n_frames)
        result.series["av_curve"] = estimate.curve
        return {"av_offset_frames": float(estimate.offset), "av_sync_confidence": estimate.confidence}

    _attempt(result, ("av_offset_frames", "av_sync_confidence"), sync)
    _attempt(result, ("jitter",), lambda: landmarks.temporal_jitter(track))
    _attempt(result, ("blink_rate_per_min",), lambda: landmarks.blink_rate(track, config.landmarks))
    _attempt(result, ("identity_drift",), lambda: landmarks.identity_shape_drift(track))

    def lse() -> dict[str, float]:
        from eval.lse import compute_lse

        if models.syncnet is None:
            raise MetricUnavailable(models.reasons["lse"])
        if audio is None:
            raise MetricUnavailable(audio_reason)
        out = compute_lse(models.syncnet, item.video_path, item.audio_path, config.max_frames)
        return {"lse_c": out.lse_c, "lse_d": out.lse_d, "lse_offset": float(out.offset)}

    _attempt(result, ("lse_c", "lse_d", "lse_offset"), lse)

    def clip() -> float:
        if models.clip is None:
            raise MetricUnavailable(models.reasons["clip_t"])
        if not item.prompt:
            raise MetricUnavailable("no prompt for this video (results table column 'prompt')")
        return models.clip.score(frames, str(item.prompt), config.clip_frames)

    _attempt(result, ("clip_t",), clip)

    reference_names = ("mouth_corr", "lmd_mouth", "lmd_face", "adfd", "psnr", "ssim", "lpips")
    if reference_path is None:
        for name in reference_names:
            result.unavailable[name] = "no reference video for this job"
    else:
        ref_frames, ref_track = references.get(reference_path)
        result.reference_frames = ref_frames[np.linspace(0, len(ref_frames) - 1, min(6, len(ref_frames))).astype(int)]
        result.series["reference_mouth_opening"] = ref_track.mouth_opening()
        _attempt(result, ("mouth_corr",), lambda: landmarks.mouth_opening_correlation(track, ref_track))
        _attempt(result, ("lmd_face", "lmd_mouth"), lambda: landmarks.lmd(track, ref_track))
        _attempt(result, ("adfd",), lambda: landmarks.adfd(track, ref_track, config.landmarks))

        def pixels() -> dict[str, float]:
            n = image_metrics.check_frame_aligned(frames, ref_frames)
            return {"psnr": image_metrics.psnr(frames[:n], ref_frames[:n]),
                    "ssim": image_metrics.ssim(frames[:n], ref_frames[:n])}

        _attempt(result, ("psnr", "ssim"), pixels)

        def perceptual() -> float:
            from eval.lpips import lpips

            if models.lpips is None:
                raise MetricUnavailable(models.reasons["lpips"])
            n = image_metrics.check_frame_aligned(frames, ref_frames)
            return lpips(models.lpips, frames[:n], ref_frames[:n])

        _attempt(result, ("lpips",), perceptual)

    if models.inception is not None:
        from eval.fid import inception_features, sample_frames

        sampled = sample_frames(frames, track.face_boxes, config.fid)
        fid_features["generated"].append(inception_features(models.inception, sampled, config.fid.batch_size))
        if reference_path is not None and reference_path not in fid_features["_reference_paths"]:
            ref_frames, ref_track = references.get(reference_path)
            sampled = sample_frames(ref_frames, ref_track.face_boxes, config.fid)
            fid_features["reference"].append(inception_features(models.inception, sampled, config.fid.batch_size))
            fid_features["_reference_paths"].append(reference_path)  # type: ignore[arg-type]
    return result


# ---------------------------------------------------------------- aggregation


def _dataset_fid(models: _Models, features: dict[str, list[np.ndarray]], config: EvalConfig,
                 metrics: dict[str, float], unavailable: dict[str, str], notes: list[str]) -> None:
    from eval.fid import fid_from_features, kid_from_features

    if models.inception is None:
        for name in DATASET_METRICS:
            unavailable[name] = models.reasons["fid"]
        return
    dims = config.fid.dims
    generated = np.concatenate(features["generated"]) if features["generated"] else np.zeros((0, dims))
    reference = np.concatenate(features["reference"]) if features["reference"] else np.zeros((0, dims))
    metrics["fid_n_generated_frames"] = float(len(generated))
    metrics["fid_n_reference_frames"] = float(len(reference))
    if len(generated) < 2 or len(reference) < 2:
        for name in DATASET_METRICS:
            unavailable[name] = (f"FID/KID need >= 2 frames per set (generated {len(generated)}, "
                                 f"reference {len(reference)})")
        return
    try:
        metrics["fid"] = fid_from_features(generated, reference)
    except ValueError as error:  # pytorch-fid: sqrtm of a (near-)singular covariance product went complex
        unavailable["fid"] = (f"pytorch-fid could not compute FID from {len(generated)} generated / "
                              f"{len(reference)} reference frames ({error}); a {dims}-d covariance needs more "
                              f"than {dims} frames per set")
    metrics["kid"], metrics["kid_std"] = kid_from_features(generated, reference, config.fid.kid_subset_size,
                                                           config.fid.kid_subsets)
    if "fid" in metrics and min(len(generated), len(reference)) < dims:
        notes.append(f"FID uses {len(generated)} generated / {len(reference)} reference frames: a {dims}-d covariance "
                     f"needs >= {dims} frames per set to be full rank, so this FID is biased and not "
                     "comparable with published numbers (KID is unbiased at small sizes).")


def per_video_table(results: list[VideoEvaluation], skipped: list[VideoItem]) -> pd.DataFrame:
    rows = []
    for result in results:
        row: dict[str, Any] = {"job_id": result.item.job_id, "video_path": str(result.item.video_path),
                               "reference_path": str(result.reference_path) if result.reference_path else None,
                               "view": result.item.view, "status": result.item.status}
        for name in [*PER_VIDEO_METRICS, "face_detected_fraction"]:
            row[name] = result.values.get(name, np.nan)
        row["unavailable"] = json.dumps(result.unavailable, sort_keys=True)
        rows.append(row)
    for item in skipped:
        rows.append({"job_id": item.job_id, "video_path": str(item.video_path), "view": item.view,
                     "status": item.status, "unavailable": json.dumps({"all": f"status {item.status!r}"})})
    table = pd.DataFrame(rows)
    for name in [*PER_VIDEO_METRICS, "face_detected_fraction"]:
        if name not in table:
            table[name] = np.nan
    return table


def aggregate(results: list[VideoEvaluation], table: pd.DataFrame) -> tuple[dict[str, float], dict[str, str]]:
    """Dataset means of per-video metrics (over videos where available) and reasons for the rest."""
    metrics: dict[str, float] = {"n_videos": float(len(table)), "n_evaluated": float(len(results))}
    unavailable: dict[str, str] = {}
    for name in PER_VIDEO_METRICS:
        values = table[name].to_numpy(dtype=float) if name in table else np.array([])
        values = values[np.isfinite(values)]
        if len(values):
            metrics[name] = float(values.mean())
            if name in ("av_offset_frames", "lse_offset"):
                metrics[name.replace("_frames", "") + "_abs_mean"] = float(np.abs(values).mean())
        else:
            reasons = Counter(r.unavailable.get(name, "not computed") for r in results)
            unavailable[name] = reasons.most_common(1)[0][0] if reasons else "no video evaluated"
    return metrics, unavailable


def evaluate(generated: str | Path | pd.DataFrame, reference: str | Path | None, out_dir: str | Path,
             config: EvalConfig | dict | None = None,
             progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Score generated videos (video / folder / results table) against optional references.

    Returns ``{"metrics": {flat numeric}, "unavailable": {metric: reason}, "notes": [...],
    "per_video": DataFrame, "paths": {"metrics", "unavailable", "per_video", "report"}}``.
    """
    from eval.report import write_report

    config = EvalConfig.model_validate(config or {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = resolve_items(generated, config.ok_statuses)
    to_evaluate = [i for i in items if i.status in config.ok_statuses]
    skipped = [i for i in items if i.status not in config.ok_statuses]
    pairs = pair_references(to_evaluate, reference, config.ok_statuses)
    models = _Models(config)
    references = _ReferenceCache(config.max_frames)
    fid_features: dict[str, list] = {"generated": [], "reference": [], "_reference_paths": []}
    results = []
    for index, item in enumerate(to_evaluate):
        if progress:
            progress(index, len(to_evaluate), item.job_id)
        results.append(evaluate_video(item, pairs.get(item.job_id), models, references, config, fid_features))

    table = per_video_table(results, skipped)
    metrics, unavailable = aggregate(results, table)
    notes: list[str] = []
    _dataset_fid(models, fid_features, config, metrics, unavailable, notes)
    by_view = aggregate_by_view(table, list(PER_VIDEO_METRICS))
    for _, row in by_view.iterrows():
        for name in PER_VIDEO_METRICS:
            if np.isfinite(row.get(name, np.nan)):
                metrics[f"view_{row['view']}_{name}"] = float(row[name])

    paths = {"metrics": out_dir / "metrics.json", "unavailable": out_dir / "unavailable.json",
             "per_video": out_dir / "per_video.parquet", "report": out_dir / "report.html"}
    write_text_atomic(paths["metrics"], json.dumps(metrics, indent=2, sort_keys=True))
    write_text_atomic(paths["unavailable"], json.dumps(unavailable, indent=2, sort_keys=True))
    table.to_parquet(paths["per_video"], index=False)
    write_report(paths["report"], metrics=metrics, unavailable=unavailable, notes=notes, table=table,
                 results=results, by_view=by_view, config=config, generated=generated, reference=reference)
    return {"metrics": metrics, "unavailable": unavailable, "notes": notes, "per_video": table,
            "paths": {k: str(v) for k, v in paths.items()}}


def check_regressions(metrics: dict[str, float], thresholds: dict[str, dict[str, float]],
                      missing_ok: bool = False) -> list[str]:
    """Messages for every metric outside its threshold; empty list = no regression.

    ``thresholds`` maps a metric key of ``metrics.json`` to ``{"min": x}`` and/or ``{"max": y}``.
    A thresholded metric absent from ``metrics`` (unavailable) is a failure unless ``missing_ok``.
    """
    failures = []
    for name, bounds in thresholds.items():
        unknown = set(bounds) - {"min", "max"}
        if unknown:
            raise ValueError(f"threshold for {name!r}: unknown key(s) {sorted(unknown)}; use 'min' and/or 'max'")
        value = metrics.get(name)
        if value is None or not np.isfinite(value):
            if not missing_ok:
                failures.append(f"{name}: missing/unavailable, cannot check {bounds}")
            continue
        if "min" in bounds and value < bounds["min"]:
            failures.append(f"{name} = {value:.4g} is below the minimum {bounds['min']:.4g}")
        if "max" in bounds and value > bounds["max"]:
            failures.append(f"{name} = {value:.4g} is above the maximum {bounds['max']:.4g}")
    return failures
