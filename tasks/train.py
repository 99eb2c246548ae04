"""Prefect tasks for the ``train`` stage: fit the motion model, compare it with the baseline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from eval.motion_metrics import evaluate_generators, summarise_motion_table
from eval.probe import fit_probe
from portraittalker.head import HeadModel
from portraittalker.motion.baseline import BaselineLipSync, BaselineLipSyncConfig
from portraittalker.motion.checkpoint import load_motion_model
from portraittalker.motion.train import (
    TrainConfig,
    TrainingResumeError,
    TrainResult,
    attach_features,
    split_clips,
    train_motion_model,
)
from tasks.experiment import log_metrics


@task(name="train-motion-model", cache_policy=NO_CACHE)
def train_task(data_dirs: list[Path], out_dir: Path, config: TrainConfig, head: HeadModel) -> TrainResult:
    # Resumable: train_motion_model continues from out_dir/last.pt when the config and data are unchanged. A
    # last.pt of another config or data (the stage's params or datasets changed) is moved aside so the stage
    # starts over instead of failing.
    def run() -> TrainResult:
        return train_motion_model(data_dirs, out_dir, config, progress=True, head=head,
                                  on_epoch_end=lambda epoch, metrics: log_metrics(metrics, step=epoch))

    for _ in range(config.ensemble_members):  # an ensemble may hold a stale last.pt in each member's folder
        try:
            return run()
        except TrainingResumeError as error:
            get_run_logger().warning("%s; starting over (old checkpoint kept as last.stale.pt)", error)
            error.checkpoint.replace(error.checkpoint.with_name("last.stale.pt"))
    return run()


@task(name="compare-with-baseline", cache_policy=NO_CACHE)
def compare_task(data_dirs: list[Path], checkpoint: Path, head: HeadModel, baseline: BaselineLipSyncConfig,
                 split: str = "test", config: TrainConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-clip and summary motion metrics of the model, ``BaselineLipSync`` and — for models on encoder
    features, given the training ``config`` — a ridge probe on the same features, on held-out speakers."""
    motion_model = load_motion_model(checkpoint, head=head)
    generators = {"model": motion_model.for_head(head).animate, "baseline": BaselineLipSync(head, baseline).animate}
    if config is not None and motion_model.uses_features:
        probe = fit_probe(data_dirs, config, head)
        get_run_logger().info("ridge probe on %s features: alpha %g", probe.encoder.encoder_id, probe.alpha)
        generators["probe"] = probe.animate
    per_clip = evaluate_generators(data_dirs, generators, head, split=split)
    return per_clip, summarise_motion_table(per_clip)


@task(name="encode-speech-features", cache_policy=NO_CACHE)
def features_task(data_dirs: list[Path], config: TrainConfig, head: HeadModel) -> dict:
    """Fill the feature cache for every clip of every split (augmented copies for the training clips)."""
    from portraittalker.motion.dataset import load_motion_clips
    from portraittalker.motion.model import target_columns

    columns = target_columns(list(head.expression_names), config.model.predict_gaze)
    clips = load_motion_clips(data_dirs, head.name, list(head.expression_names), columns,
                              prefer_truth=config.prefer_truth)
    train, val = split_clips([c for c in clips if c.split in ("train", "val")], config.val_fraction)
    held = [c for c in clips if c.split == "test"] + val
    stats = attach_features(train, config, config.feature_copies, progress=True)
    held_stats = attach_features(held, config, 0, progress=True)
    return {"encoder_id": stats["encoder_id"], "clips": len(clips),
            "encoded": stats["cache_misses"] + held_stats["cache_misses"],
            "cached": stats["cache_hits"] + held_stats["cache_hits"]}
