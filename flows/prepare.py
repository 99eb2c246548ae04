"""Data flows: the synthetic multilingual corpus and the ``prepare`` stage.

    python -m flows.prepare synth      # params.yaml `synth`   -> data/synth
    python -m flows.prepare prepare    # params.yaml `prepare` -> data/prepared (clips.parquet, frames.parquet, ...)

``prepare`` maps clips over Prefect tasks (with retries for transient errors), skips clips whose inputs and
settings are unchanged, and logs counts, rejection reasons, fit-error statistics and — for synthetic inputs —
the motion-recovery errors against ground truth to MLflow.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from portraittalker.config import PrepareInput, load_params
from portraittalker.data.config import LearnedOffsetConfig
from portraittalker.data.hdtf import hdtf_clip_inputs
from portraittalker.data.prepare import (
    ClipInput,
    collect_corpus_inputs,
    collect_folder_inputs,
    collect_manifest_inputs,
    prepare_dataset,
)
from portraittalker.data.recovery import recovery_table, summarise_recovery
from portraittalker.data.speech_sync import learned_shift
from portraittalker.data.synth.corpus import make_synthetic_corpus
from portraittalker.data.tables import LEARNED_CONFIDENCE_COLUMN, LEARNED_OFFSET_COLUMN, TRIM_START_COLUMN
from portraittalker.head import head_from_config
from portraittalker.media.files import atomic_path, write_text_atomic
from tasks.experiment import log_artifacts, log_metrics, markdown_table, mlflow_run
from tasks.prepare import map_clips_over_tasks


def learned_shift_count(ok: pd.DataFrame, config: LearnedOffsetConfig) -> int:
    """Clips whose audio the learned A/V check shifted (by its own rule, not the onset check's threshold)."""
    measured = ok[ok[LEARNED_OFFSET_COLUMN].notna()]
    return sum(learned_shift(int(offset), float(confidence), config) != 0 for offset, confidence in
               zip(measured[LEARNED_OFFSET_COLUMN], measured[LEARNED_CONFIDENCE_COLUMN], strict=True))


def clip_inputs(source: PrepareInput) -> list[ClipInput]:
    path = Path(source.path)
    if source.source == "synthetic":
        return collect_corpus_inputs(path)
    if source.source == "hdtf":
        return hdtf_clip_inputs(pd.read_csv(path / "cut_manifest.csv"), language=source.language or "en")
    if source.source == "manifest":
        return collect_manifest_inputs(path, language=source.language)
    return collect_folder_inputs(path, source="folder", language=source.language)


@flow(name="synth-corpus")
def synth_flow(params_path: str | None = None) -> str:
    params = load_params(params_path)
    synth = params.synth
    with mlflow_run("synth", params):
        result = make_synthetic_corpus(synth.out_dir, synth.languages, synth.clips_per_language, synth.seed,
                                       image_size=synth.image_size, config=synth,
                                       head=head_from_config(params.head))
        log_metrics({"clips": result.n_clips, "rendered": result.n_rendered, "skipped": result.n_skipped,
                            "failed": result.n_failed, "seconds": result.seconds})
        log_artifacts([Path(synth.out_dir) / "clips.parquet"], "synth")
    get_run_logger().info("synthetic corpus: %d clips (%d failed) in %s", result.n_clips, result.n_failed,
                          synth.out_dir)
    return str(synth.out_dir)


@flow(name="prepare")
def prepare_flow(params_path: str | None = None) -> str:
    logger = get_run_logger()
    params = load_params(params_path)
    section = params.prepare
    config = section.stage_config().model_copy(update={"head_model": params.head.model,
                                                       "head_path": params.head.path})
    out_dir = Path(section.out_dir)
    inputs = [clip for source in section.inputs for clip in clip_inputs(source)]
    logger.info("prepare: %d clips from %d sources -> %s", len(inputs), len(section.inputs), out_dir)
    with mlflow_run("prepare", params):
        result = prepare_dataset(inputs, out_dir, config, progress=True, source="+".join(
            s.source for s in section.inputs), map_clips=map_clips_over_tasks)
        clips = result.clips
        ok = clips[clips["status"] == "ok"]
        metrics = {f"clips_{k}": v for k, v in result.counts.items()}
        metrics.update({"clips_reused": result.reused, "frames": int(ok["n_frames"].sum()) if len(ok) else 0})
        if len(ok):
            errors = ok["fit_error_px"].to_numpy(np.float64)
            metrics.update({"fit_error_px_mean": float(errors.mean()), "fit_error_px_median": float(np.median(errors)),
                            "fit_error_px_max": float(errors.max())})
            metrics.update({f"fit_error_px_mean.{source}": float(group["fit_error_px"].mean())
                            for source, group in ok.groupby("source")})
        metrics.update({f"rejected.{reason}": count for reason, count in result.reasons.items()})
        metrics["av_shifted"] = int((ok["av_shift_frames"] != 0).sum())
        metrics["av_learned_shifted"] = learned_shift_count(ok, config.av_offset.learned)
        metrics["scene_cut_trimmed"] = int(ok[TRIM_START_COLUMN].notna().sum())
        for split, group in ok.groupby("split"):
            metrics[f"split.{split}.speakers"] = int(group["speaker_id"].nunique())
            metrics[f"split.{split}.minutes"] = round(float(group["duration_s"].sum()) / 60, 3)
        metrics.update({f"seconds.{k}": v for k, v in result.timings.items()})
        for source in section.inputs:
            if source.source == "synthetic":
                recovery = recovery_table(out_dir, source.path, head_from_config(params.head))
                if len(recovery):
                    with atomic_path(out_dir / "recovery.parquet") as tmp:
                        recovery.to_parquet(tmp, index=False)
                    metrics.update(summarise_recovery(recovery))
        log_metrics(metrics)
        write_text_atomic(Path("metrics") / "prepare.json", json.dumps(metrics, indent=1, sort_keys=True))
        log_artifacts([out_dir / "clips.parquet", out_dir / "recovery.parquet", out_dir / "previews" / "index.html"],
                      "prepare")
    columns = ["clip_id", "split", "status", "reason", "fit_error_px", "av_offset_frames", "av_shift_frames"]
    create_markdown_artifact(key="prepare-clips", markdown="## Prepared clips\n\n" + markdown_table(
        clips[columns].to_dict("records"), columns), description=str(out_dir))
    logger.info("prepare: %s", {k: v for k, v in metrics.items() if not k.startswith("seconds.")})
    return str(out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["synth", "prepare"])
    parser.add_argument("--params")
    args = parser.parse_args(argv)
    if args.stage == "synth":
        print(synth_flow(args.params))
    else:
        workers = load_params(args.params).prepare.workers
        print(prepare_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=workers))(args.params))


if __name__ == "__main__":
    main()
