"""Prefect tasks for the ``train`` stage: fit the motion model, compare it with the baseline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from eval.motion_metrics import evaluate_generators, summarise_motion_table
from portraittalker.head import HeadModel
from portraittalker.motion.baseline import BaselineLipSync, BaselineLipSyncConfig
from portraittalker.motion.checkpoint import load_motion_model
from portraittalker.motion.train import TrainConfig, TrainingResumeError, TrainResult, train_motion_model
from tasks.experiment import log_metrics


@task(name="train-motion-model", cache_policy=NO_CACHE)
def train_task(data_dirs: list[Path], out_dir: Path, config: TrainConfig, head: HeadModel) -> TrainResult:
    # Resumable: train_motion_model continues from out_dir/last.pt when the config is unchanged. A last.pt of
    # another config (the stage's params changed) is moved aside so the stage starts over instead of failing.
    def run() -> TrainResult:
        return train_motion_model(data_dirs, out_dir, config, progress=True, head=head,
                                  on_epoch_end=lambda epoch, metrics: log_metrics(metrics, step=epoch))

    try:
        return run()
    except TrainingResumeError as error:
        stale = Path(out_dir) / "last.pt"
        get_run_logger().warning("%s; starting over (old checkpoint kept as last.stale.pt)", error)
        stale.replace(stale.with_name("last.stale.pt"))
        return run()


@task(name="compare-with-baseline", cache_policy=NO_CACHE)
def compare_task(data_dirs: list[Path], checkpoint: Path, head: HeadModel, baseline: BaselineLipSyncConfig,
                 split: str = "test") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-clip and summary motion metrics of the model and ``BaselineLipSync`` on held-out speakers."""
    model = load_motion_model(checkpoint, head=head).for_head(head)
    generators = {"model": model.animate, "baseline": BaselineLipSync(head, baseline).animate}
    per_clip = evaluate_generators(data_dirs, generators, head, split=split)
    return per_clip, summarise_motion_table(per_clip)
