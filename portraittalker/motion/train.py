"""Training of the audio-to-motion model (the ``train`` stage).

:func:`train_motion_model` reads prepared dataset directories, trains on random windows of the
``train`` split, validates on whole ``val`` clips after every epoch and stops early when the
validation loss stops improving. It is seeded and bit-reproducible on CPU (window sampling and dropout
are re-seeded from ``(seed, epoch)`` so a resumed run continues exactly as an uninterrupted one),
resumes from ``out_dir/last.pt``, and uses bf16 autocast on CUDA.

Files in ``out_dir``: ``last.pt`` (model + optimizer + training state), ``best.pt`` (model of the best
validation epoch, what ``generate`` loads), ``metrics.json`` (best epoch's metrics, for DVC) and
``history.json`` (every epoch).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from portraittalker.dataset_layout import CLIPS_FILE
from portraittalker.errors import PortraitTalkerError
from portraittalker.head import HeadModel, load_head_model
from portraittalker.media.files import write_text_atomic
from portraittalker.motion.checkpoint import head_identity, model_from_payload, read_checkpoint, save_checkpoint
from portraittalker.motion.config import TRAIN_PRESETS as TRAIN_PRESETS
from portraittalker.motion.config import LossWeights, TrainConfig
from portraittalker.motion.config import train_preset as train_preset
from portraittalker.motion.dataset import (
    MotionClip,
    MotionDatasetError,
    augment_window,
    load_motion_clips,
    read_dataset_metadata,
)
from portraittalker.motion.features import SAMPLES_PER_FRAME, uses_encoder_features
from portraittalker.motion.model import (
    MotionEnsemble,
    MotionModel,
    VertexSubsetDeformer,
    params_from_values,
    target_columns,
)

LAST_CHECKPOINT, BEST_CHECKPOINT = "last.pt", "best.pt"
METRICS_FILE, HISTORY_FILE = "metrics.json", "history.json"
M_TO_MM = 1000.0
MOUTH_LANDMARKS = (62, 66)  # 68-point inner-lip centre, upper and lower (as eval.motion_metrics measures it)


class TrainingResumeError(PortraitTalkerError, RuntimeError):
    """``out_dir`` (or an ensemble member's folder) holds a checkpoint of a run with another configuration or on
    other data (a re-prepared dataset: clips added, audio re-aligned, targets refitted)."""

    def __init__(self, message: str, checkpoint: Path) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint  # the conflicting last.pt


class TrainingDivergedError(PortraitTalkerError, RuntimeError):
    """The loss became NaN/inf; the last good checkpoint in ``out_dir`` is kept."""


@dataclass
class TrainResult:
    best_checkpoint: Path
    last_checkpoint: Path
    best_epoch: int
    best_metrics: dict[str, float]
    epochs_run: int  # epochs completed in total, including resumed ones
    stopped_early: bool
    resumed_from_epoch: int | None
    history: list[dict[str, float]] = field(default_factory=list)


EpochCallback = Callable[[int, dict[str, float]], None]


def train_motion_model(
    data_dirs: list[Path],
    out_dir: Path,
    config: TrainConfig,
    progress: bool = True,
    on_epoch_end: EpochCallback | None = None,
    head: HeadModel | None = None,
) -> TrainResult:
    """Train (or resume) a motion model on the datasets in ``data_dirs``; checkpoints go to ``out_dir``.

    ``on_epoch_end(epoch, metrics)`` is called after each epoch's validation (e.g. to log to MLflow).
    ``head`` defaults to the head model named in the first dataset's metadata.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dirs = [Path(d) for d in data_dirs]
    if not data_dirs:
        raise MotionDatasetError("train_motion_model needs at least one dataset directory")
    if head is None:
        clips_file = data_dirs[0] / CLIPS_FILE
        meta = read_dataset_metadata(clips_file) if clips_file.is_file() else {}
        head = load_head_model(meta.get("head_model", "ict-facekit"))
    device = _pick_device(config.device)
    previous_threads, previous_determinism = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    torch.use_deterministic_algorithms(True, warn_only=True)  # warn_only: CUDA kernels without a twin still run
    try:
        if config.ensemble_members == 1:
            return _train(data_dirs, out_dir, config, progress, on_epoch_end, head, device)
        return _train_ensemble(data_dirs, out_dir, config, progress, on_epoch_end, head, device)
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_determinism)


def _pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("TrainConfig.device='cuda' but no CUDA device is available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def std_floor(columns: list[str]) -> torch.Tensor:
    """Smallest standardisation scale per column, in its unit: near-constant training columns (gaze, or a
    fitted translation of one speaker) must not turn small validation offsets into huge normalised errors."""
    def floor(column: str) -> float:
        if column.startswith("head_trans"):
            return 0.002  # metres
        if "_rot_" in column or column.startswith("eye_gaze"):
            return 0.01  # radians (~0.6°)
        return 0.05  # blendshape / blink weights

    return torch.tensor([floor(c) for c in columns])


def split_clips(clips: list[MotionClip], val_fraction: float) -> tuple[list[MotionClip], list[MotionClip]]:
    """Train/val clips; without any ``val`` clip, hold out whole speakers of the train split."""
    train = [c for c in clips if c.split == "train"]
    val = [c for c in clips if c.split == "val"]
    if not train:
        raise MotionDatasetError("no clips with split 'train' and status 'ok' in the given datasets")
    if val:
        return train, val
    speakers = sorted({c.speaker_id for c in train})
    if len(speakers) < 2:  # one speaker: validate on its last clip (or on the training clip itself)
        held = {train[-1].clip_id} if len(train) > 1 else set()
        return [c for c in train if c.clip_id not in held] or train, [c for c in train if c.clip_id in held] or train
    n_held = max(1, round(len(speakers) * val_fraction))
    held_speakers = set(speakers[-n_held:])
    return [c for c in train if c.speaker_id not in held_speakers], [c for c in train if c.speaker_id in held_speakers]


class MotionLoss(torch.nn.Module):
    """Parameter regression + lip-vertex + velocity + smoothness losses on masked (B, T, D) sequences."""

    def __init__(self, model: MotionModel, head: HeadModel, weights: LossWeights) -> None:
        super().__init__()
        self.model, self.head, self.weights = model, head, weights
        self.lips = VertexSubsetDeformer(head, head.lip_vertices)
        self.mouth = VertexSubsetDeformer(head, head.landmarks68[list(MOUTH_LANDMARKS)])

    def mouth_open(self, values: torch.Tensor) -> torch.Tensor:
        """(B, T, D) table-unit motion values -> (B, T) inner-lip gap in mm (the metric's mouth opening)."""
        batch, length, width = values.shape
        params = params_from_values(values.reshape(-1, width), self.model.columns, self.head)
        points = self.mouth(params).reshape(batch, length, 2, 3) * M_TO_MM
        return (points[:, :, 0] - points[:, :, 1]).norm(dim=-1)

    def lip_vertices(self, values: torch.Tensor) -> torch.Tensor:
        """(B, T, D) table-unit motion values -> (B, T, L, 3) lip vertices in mm."""
        batch, length, width = values.shape
        params = params_from_values(values.reshape(-1, width), self.model.columns, self.head)
        return self.lips(params).reshape(batch, length, -1, 3) * M_TO_MM

    def forward(self, pred: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        w = self.weights
        target_norm = self.model.normalise(targets)
        frames = mask.float()
        n = frames.sum().clamp(min=1)
        losses = {"params": (((pred - target_norm) ** 2).mean(-1) * frames).sum() / n}
        pair = frames[:, 1:] * frames[:, :-1]
        velocity_error = (pred.diff(dim=1) - target_norm.diff(dim=1)) ** 2
        losses["velocity"] = (velocity_error.mean(-1) * pair).sum() / pair.sum().clamp(min=1)
        triple = pair[:, 1:] * pair[:, :-1]
        losses["smoothness"] = ((pred.diff(n=2, dim=1) ** 2).mean(-1) * triple).sum() / triple.sum().clamp(min=1)
        if w.lip_vertices > 0:
            with torch.no_grad():
                target_lips = self.lip_vertices(targets)
            lip_error = ((self.lip_vertices(self.model.denormalise(pred)) - target_lips) ** 2).sum(-1)
            losses["lip_vertices"] = (lip_error.mean(-1) * frames).sum() / n
        else:
            losses["lip_vertices"] = pred.new_zeros(())
        losses["mouth_open"] = losses["mouth_corr"] = pred.new_zeros(())
        if w.mouth_open > 0 or w.mouth_corr > 0:
            with torch.no_grad():
                target_gap = self.mouth_open(targets)
            pred_gap = self.mouth_open(self.model.denormalise(pred))
            losses["mouth_open"] = (((pred_gap - target_gap) ** 2) * frames).sum() / n
            losses["mouth_corr"] = 1.0 - masked_correlation(pred_gap, target_gap, frames).mean()
        losses["total"] = (w.params * losses["params"] + w.velocity * losses["velocity"] +
                           w.smoothness * losses["smoothness"] + w.lip_vertices * losses["lip_vertices"] +
                           w.mouth_open * losses["mouth_open"] + w.mouth_corr * losses["mouth_corr"])
        return losses


def masked_correlation(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) Pearson correlation of (B, T) rows over the frames where ``mask`` (float) is 1."""
    n = mask.sum(1).clamp(min=1)
    a_c = (a - (a * mask).sum(1, keepdim=True) / n[:, None]) * mask
    b_c = (b - (b * mask).sum(1, keepdim=True) / n[:, None]) * mask
    return (a_c * b_c).sum(1) / ((a_c.square().sum(1) * b_c.square().sum(1)).sqrt() + 1e-6)


def _sample_batch(
    clips: list[MotionClip], config: TrainConfig, rng: np.random.Generator, style_of: dict[str, int],
    silence: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    weights = np.array([c.n_frames * (config.real_weight if c.kind == "real" else 1.0) for c in clips])
    window = config.window_frames
    augment = config.augment
    # With speed perturbation a window is cut from up to max_speed x window source frames, so a sped-up
    # window still fills the batch row; slowed-down ones are cropped after stretching.
    span = math.ceil(window * augment.speed_range[1]) if augment.enabled and augment.speed_prob > 0 else window
    picks = rng.choice(len(clips), size=config.batch_size, p=weights / weights.sum())
    if getattr(clips[0], "variants", None) is not None:  # whisper models train on cached encoder features
        return _sample_feature_batch(clips, picks, config, rng, style_of, silence)
    waves = np.zeros((config.batch_size, window * SAMPLES_PER_FRAME), dtype=np.float32)
    targets = np.zeros((config.batch_size, window, clips[0].targets.shape[1]), dtype=np.float32)
    mask = np.zeros((config.batch_size, window), dtype=bool)
    styles = np.zeros(config.batch_size, dtype=np.int64)
    for row, index in enumerate(picks):
        clip = clips[index]
        start = int(rng.integers(0, max(clip.n_frames - span, 0) + 1))
        stop = min(start + span, clip.n_frames)
        clip_targets = clip.targets[start:stop]
        clip_wave = clip.wave[start * SAMPLES_PER_FRAME:stop * SAMPLES_PER_FRAME]
        if augment.enabled:
            clip_wave, clip_targets = augment_window(clip_wave, clip_targets, augment, rng)
        n = min(window, len(clip_targets))
        targets[row, :n] = clip_targets[:n]
        waves[row, : n * SAMPLES_PER_FRAME] = clip_wave[: n * SAMPLES_PER_FRAME]
        mask[row, :n] = True
        if rng.random() >= config.style_dropout:
            styles[row] = style_of.get(clip.speaker_id, 0)
    return torch.from_numpy(waves), torch.from_numpy(targets), torch.from_numpy(mask), torch.from_numpy(styles)


def _sample_feature_batch(
    clips: list[MotionClip], picks: np.ndarray, config: TrainConfig, rng: np.random.Generator,
    style_of: dict[str, int], silence: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windows of precomputed encoder features: a random variant (clean or augmented copy) per row.

    ``silence`` = (features of a silent window, boolean mask of the face columns set to neutral): with
    probability ``config.silence_prob`` a row becomes silence with a closed, neutral face."""
    window = config.window_frames
    dim = clips[0].variants[0].features.shape[1]
    inputs = np.zeros((config.batch_size, window, dim), dtype=np.float32)
    targets = np.zeros((config.batch_size, window, clips[0].targets.shape[1]), dtype=np.float32)
    mask = np.zeros((config.batch_size, window), dtype=bool)
    styles = np.zeros(config.batch_size, dtype=np.int64)
    for row, index in enumerate(picks):
        clip = clips[index]
        variant = clip.variants[int(rng.integers(len(clip.variants)))]
        n_frames = len(variant.targets)
        start = int(rng.integers(0, max(n_frames - window, 0) + 1))
        n = min(window, n_frames - start)
        inputs[row, :n] = variant.features[start:start + n]
        targets[row, :n] = variant.targets[start:start + n]
        if silence is not None and rng.random() < config.silence_prob:
            silent_features, face_columns = silence
            inputs[row, :n] = silent_features[:n]
            targets[row, :n, face_columns] = 0.0  # neutral expression, jaw closed
        mask[row, :n] = True
        if rng.random() >= config.style_dropout:
            styles[row] = style_of.get(clip.speaker_id, 0)
    return torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(mask), torch.from_numpy(styles)


def attach_features(clips: list[MotionClip], config: TrainConfig, copies: int, progress: bool = False) -> dict:
    """Give every clip its encoded variants (through the feature cache); returns cache statistics."""
    from portraittalker.motion.feature_cache import FeatureCache, clip_variants
    from portraittalker.motion.whisper import shared_encoder

    encoder = shared_encoder(config.model.front_end.encoder)
    cache = FeatureCache(config.feature_cache_dir, encoder)
    for clip in tqdm(clips, desc="speech features", unit="clip", disable=not progress):
        clip.variants = clip_variants(clip, cache, copies, config.augment, config.seed)
    return {"encoder_id": encoder.encoder_id, "encoder_dim": encoder.dim, "cache_hits": cache.hits,
            "cache_misses": cache.misses}


def silence_window(config: TrainConfig, columns: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Encoder features of a silent training window (faint noise, as in a quiet room) + the neutral face columns."""
    if config.silence_prob <= 0:
        return None
    from portraittalker.motion.feature_cache import FeatureCache
    from portraittalker.motion.whisper import shared_encoder

    cache = FeatureCache(config.feature_cache_dir, shared_encoder(config.model.front_end.encoder))
    rng = np.random.default_rng(config.seed)
    wave = (rng.normal(0, 1e-4, config.window_frames * SAMPLES_PER_FRAME)).astype(np.float32)
    face = np.array([c.startswith("exp_") or c.startswith("jaw_") for c in columns])
    return cache.features(wave, config.window_frames), face


@torch.no_grad()
def validate(
    model: MotionModel, loss_fn: MotionLoss, clips: list[MotionClip], device: torch.device
) -> dict[str, float]:
    """Whole-clip validation: losses, lip vertex error (mean over frames of max L2 over lip vertices, mm)."""
    model.eval()
    sums: dict[str, float] = {}
    total_frames = 0
    for clip in clips:
        source = clip.variants[0].features if model.uses_features else clip.wave
        inputs = torch.from_numpy(source)[None].to(device)
        targets = torch.from_numpy(clip.targets)[None].to(device)
        mask = torch.ones(1, clip.n_frames, dtype=torch.bool, device=device)
        pred = model(inputs, clip.n_frames).float()
        losses = loss_fn(pred, targets, mask)
        lve = (loss_fn.lip_vertices(model.denormalise(pred)) - loss_fn.lip_vertices(targets)).norm(dim=-1)
        values = {f"val_{k}": float(v) for k, v in losses.items()}
        values["val_lve_mm"] = float(lve.amax(-1).mean())
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value * clip.n_frames
        total_frames += clip.n_frames
    model.train()
    return {k: v / total_frames for k, v in sums.items()}


def _learning_rate(config: TrainConfig, step: int) -> float:
    total = config.max_epochs * config.steps_per_epoch
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
    return config.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def data_fingerprint(clips: list[MotionClip]) -> str:
    """sha256 over every train/val clip's id, split, speech and targets: what a resumed run must share."""
    digest = hashlib.sha256()
    for clip in sorted(clips, key=lambda c: c.clip_id):
        digest.update(f"{clip.clip_id}|{clip.split}|{clip.speaker_id}|{clip.targets.shape}".encode())
        digest.update(np.ascontiguousarray(clip.wave, dtype=np.float32).tobytes())
        digest.update(np.ascontiguousarray(clip.targets, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _train(
    data_dirs: list[Path], out_dir: Path, config: TrainConfig, progress: bool, on_epoch_end: EpochCallback | None,
    head: HeadModel, device: torch.device,
) -> TrainResult:
    config_json = config.model_dump(mode="json")
    last_path, best_path = out_dir / LAST_CHECKPOINT, out_dir / BEST_CHECKPOINT
    resume = read_checkpoint(last_path) if last_path.is_file() else None
    if resume is not None and resume.get("training", {}).get("config") != config_json:
        raise TrainingResumeError(
            f"{last_path} was written by a run with a different training configuration; use another output "
            "directory or delete it to start over", last_path,
        )

    identity = head_identity(head)
    columns = target_columns(list(head.expression_names), config.model.predict_gaze)
    clips = load_motion_clips(data_dirs, head.name, list(head.expression_names), columns,
                              prefer_truth=config.prefer_truth, splits=("train", "val"))
    fingerprint = data_fingerprint(clips)
    # Resuming a finished run on re-prepared data would silently publish the old model: the data must match too.
    if resume is not None and resume["training"].get("data") != fingerprint:
        raise TrainingResumeError(
            f"{last_path} was written by a run on different training data (the datasets in "
            f"{', '.join(map(str, data_dirs))} changed since); use another output directory or delete it to start "
            "over", last_path,
        )
    train_clips, val_clips = split_clips(clips, config.val_fraction)
    model_config = config.model
    silence = None
    if uses_encoder_features(config.model.front_end):
        stats = attach_features(train_clips, config, config.feature_copies, progress)
        stats_val = attach_features(val_clips, config, 0, progress)
        silence = silence_window(config, columns)
        front = model_config.front_end.model_copy(update={"encoder_id": stats["encoder_id"],
                                                          "encoder_dim": stats["encoder_dim"]})
        model_config = model_config.model_copy(update={"front_end": front})
        if progress:
            print(f"speech features: {stats['encoder_id']}, {stats['cache_hits'] + stats_val['cache_hits']} cached, "
                  f"{stats['cache_misses'] + stats_val['cache_misses']} encoded")
    all_targets = np.concatenate([c.targets for c in train_clips])
    mean = torch.from_numpy(all_targets.mean(0))
    std = torch.maximum(torch.from_numpy(all_targets.std(0)), std_floor(columns))
    train_speakers = sorted({c.speaker_id for c in train_clips})
    style_names = ["<average>", *train_speakers[: max(config.model.n_styles - 1, 0)]] if config.model.n_styles else []
    style_of = {name: i for i, name in enumerate(style_names) if i > 0}

    torch.manual_seed(config.seed)
    model = MotionModel(model_config, identity, mean, std, style_names).to(device)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    history: list[dict[str, float]] = []
    start_epoch, best_epoch, best_val, epochs_since_best, stopped_early = 0, -1, math.inf, 0, False
    if resume is not None:
        model.load_state_dict(resume["state_dict"])
        optimizer.load_state_dict(resume["optimizer"])
        state = resume["training"]
        start_epoch, best_epoch, best_val = state["epoch"] + 1, state["best_epoch"], state["best_val"]
        epochs_since_best, stopped_early, history = state["epochs_since_best"], state["stopped_early"], state["history"]
    loss_fn = MotionLoss(model, head, config.loss).to(device)
    amp = device.type == "cuda" and config.mixed_precision

    def autocast() -> Any:
        return torch.autocast("cuda", dtype=torch.bfloat16) if amp else nullcontext()

    epochs = range(start_epoch, config.max_epochs) if not stopped_early else range(0)
    bar = tqdm(epochs, desc="train motion", disable=not progress, unit="epoch")
    model.train()
    for epoch in bar:
        rng = np.random.default_rng([config.seed, epoch])
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout identical after a resume
        started, train_loss, frames = time.perf_counter(), 0.0, 0
        for step in range(config.steps_per_epoch):
            wave, targets, mask, styles = (t.to(device) for t in _sample_batch(train_clips, config, rng, style_of,
                                                                                 silence))
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(config, epoch * config.steps_per_epoch + step)
            with autocast():
                pred = model(wave, targets.shape[1], styles if model.style is not None else None, ~mask)
            losses = loss_fn(pred.float(), targets, mask)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            train_loss += float(losses["total"].detach())
            frames += int(mask.sum())
        elapsed = time.perf_counter() - started
        with autocast():
            metrics = {"epoch": float(epoch), "train_loss": train_loss / config.steps_per_epoch,
                       "lr": optimizer.param_groups[0]["lr"], "train_frames_per_s": frames / elapsed,
                       **validate(model, loss_fn, val_clips, device)}
        if not math.isfinite(metrics["val_total"]):
            raise TrainingDivergedError(
                f"validation loss is {metrics['val_total']} after epoch {epoch}; lower learning_rate or grad_clip"
            )
        history.append(metrics)
        improved = metrics[config.select_on] < best_val - config.min_delta
        if improved:
            best_val, best_epoch, epochs_since_best = metrics[config.select_on], epoch, 0
            save_checkpoint(best_path, model, {"metrics": metrics})
        else:
            epochs_since_best += 1
        stopped_early = epochs_since_best >= config.patience
        save_checkpoint(last_path, model, {
            "optimizer": optimizer.state_dict(),
            "training": {"config": config_json, "data": fingerprint, "epoch": epoch, "best_epoch": best_epoch,
                         "best_val": best_val, "epochs_since_best": epochs_since_best, "stopped_early": stopped_early,
                         "history": history},
        })
        write_text_atomic(out_dir / HISTORY_FILE, json.dumps(history, indent=1))
        write_text_atomic(out_dir / METRICS_FILE, json.dumps(history[_index_of(history, best_epoch)], indent=1))
        bar.set_postfix(loss=f"{metrics['train_loss']:.3f}", val=f"{metrics['val_total']:.3f}",
                        lve_mm=f"{metrics['val_lve_mm']:.2f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, metrics)
        if stopped_early:
            break
    if not history:
        raise MotionDatasetError("training ran no epochs (max_epochs reached before any epoch?)")
    return TrainResult(
        best_checkpoint=best_path, last_checkpoint=last_path, best_epoch=best_epoch,
        best_metrics=history[_index_of(history, best_epoch)], epochs_run=len(history), stopped_early=stopped_early,
        resumed_from_epoch=start_epoch if resume is not None else None, history=history,
    )


def _train_ensemble(
    data_dirs: list[Path], out_dir: Path, config: TrainConfig, progress: bool, on_epoch_end: EpochCallback | None,
    head: HeadModel, device: torch.device,
) -> TrainResult:
    """Member i trains (and resumes) in ``out_dir/member<i>`` with seed ``seed + i``; ``best.pt`` holds them all.

    ``best_metrics`` are the members' best validation metrics averaged; the flow's motion evaluation scores the
    ensemble itself.
    """
    results = []
    for i in range(config.ensemble_members):
        member = config.model_copy(update={"seed": config.seed + i, "ensemble_members": 1})
        if progress:
            print(f"ensemble member {i + 1}/{config.ensemble_members} (seed {member.seed})")
        results.append(_train(data_dirs, out_dir / f"member{i}", member, progress, on_epoch_end, head, device))
    members = [model_from_payload(read_checkpoint(r.best_checkpoint)) for r in results]
    best_path = save_checkpoint(out_dir / BEST_CHECKPOINT, MotionEnsemble.from_members(members), {
        "members": [{"seed": config.seed + i, "best_epoch": r.best_epoch, "metrics": r.best_metrics}
                    for i, r in enumerate(results)]})
    metrics = {key: float(np.mean([r.best_metrics[key] for r in results])) for key in results[0].best_metrics}
    write_text_atomic(out_dir / METRICS_FILE, json.dumps(metrics, indent=1))
    write_text_atomic(out_dir / HISTORY_FILE, json.dumps({f"member{i}": r.history for i, r in enumerate(results)},
                                                         indent=1))
    return TrainResult(
        best_checkpoint=best_path, last_checkpoint=results[-1].last_checkpoint,
        best_epoch=round(float(np.mean([r.best_epoch for r in results]))), best_metrics=metrics,
        epochs_run=sum(r.epochs_run for r in results), stopped_early=all(r.stopped_early for r in results),
        resumed_from_epoch=results[0].resumed_from_epoch, history=[h for r in results for h in r.history],
    )


def _index_of(history: list[dict[str, float]], epoch: int) -> int:
    return next(i for i, h in enumerate(history) if int(h["epoch"]) == epoch)
