"""Prefect task: score a set of generated videos with the eval suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from eval.evaluate import EvalConfig, evaluate


@task(name="evaluate-videos", cache_policy=NO_CACHE)
def evaluate_videos(generated: str, reference: str | None, out_dir: Path, config: EvalConfig) -> dict:
    """Writes metrics.json, unavailable.json, per_video.parquet and report.html into ``out_dir``."""
    return evaluate(generated, reference, out_dir, config)


@task(name="evaluate-heldout-lipsync", cache_policy=NO_CACHE)
def heldout_task(dataset: Path, out_dir: Path, params: Any, split: str, max_clips: int | None,
                 speech_dir: str | None = None) -> dict[str, float]:
    """Render each real held-out clip's speech with the model and the baseline, score the tracked mouths;
    mouth-opening statistics per language from ``speech_dir``'s real speech and espeak-ng Korean."""
    from eval.heldout import evaluate_heldout

    _, summary = evaluate_heldout(dataset, out_dir, params, split=split, limit=max_clips, speech_dir=speech_dir)
    return summary
