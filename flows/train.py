"""Train the audio-to-motion model, compare it with the baseline on held-out speakers, publish it.

    python -m flows.train            # params.yaml `train` -> models/motion/{best,last}.pt, motion_eval.*
    python -m flows.train --publish  # also copy best.pt to the packaged default checkpoint
    python -m flows.train features   # only encode the clips into the speech-feature cache (DVC stage `features`)

Logs per-epoch metrics, the best checkpoint (``mlflow.pytorch``, registered with the alias ``candidate``;
``champion`` when it beats the baseline on held-out real clips) and the model-vs-baseline table to MLflow.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from portraittalker.config import load_params
from portraittalker.head import head_from_config
from portraittalker.media.files import atomic_path, write_text_atomic
from portraittalker.motion.checkpoint import load_motion_model, write_packaged_checkpoint
from portraittalker.motion.features import uses_encoder_features
from tasks.experiment import log_artifacts, log_metrics, markdown_table, mlflow_run
from tasks.train import compare_task, features_task, train_task

SUMMARY_COLUMNS = ["kind", "language", "method", "n_clips", "lve_mm", "mouth_open_corr", "fdd_mm2", "av_offset_frames"]


def beats_baseline(summary, kind: str = "real", other: str = "baseline") -> bool:
    """The model is better than ``other`` on LVE *and* mouth-opening correlation over all held-out clips of
    ``kind``."""
    rows = summary[(summary["kind"] == kind) & (summary["language"] == "all")].set_index("method")
    if not {"model", other} <= set(rows.index):
        return False
    model, baseline = rows.loc["model"], rows.loc[other]
    return bool(model["lve_mm"] < baseline["lve_mm"] and model["mouth_open_corr"] > baseline["mouth_open_corr"])


@flow(name="train")
def train_flow(params_path: str | None = None, publish: bool = False) -> dict:
    logger = get_run_logger()
    params = load_params(params_path)
    section = params.train
    head = head_from_config(params.head)
    data_dirs = [Path(d) for d in section.data_dirs]
    out_dir = Path(section.out_dir)
    with mlflow_run("train", params):
        result = train_task(data_dirs, out_dir, section.resolved(), head)
        log_metrics({f"best.{k}": v for k, v in result.best_metrics.items()})
        log_metrics({"best_epoch": result.best_epoch, "epochs_run": result.epochs_run})
        per_clip, summary = compare_task(data_dirs, result.best_checkpoint, head, params.motion.baseline,
                                         config=section.resolved())
        with atomic_path(out_dir / "motion_eval.parquet") as tmp:
            per_clip.to_parquet(tmp, index=False)
        flat = {f"{r['kind']}.{r['language']}.{r['method']}.{m}": float(r[m]) for r in summary.to_dict("records")
                for m in ("lve_mm", "mouth_open_corr", "fdd_mm2", "av_offset_frames")}
        write_text_atomic(out_dir / "motion_eval.json", json.dumps(flat, indent=1, sort_keys=True))
        log_metrics(flat)
        real_win = beats_baseline(summary, "real")
        probe_win = beats_baseline(summary, "real", other="probe")
        log_metrics({"beats_baseline_on_real": float(real_win), "beats_probe_on_real": float(probe_win)})
        log_artifacts([result.best_checkpoint, out_dir / "motion_eval.parquet", out_dir / "motion_eval.json"],
                      "train")
        model = load_motion_model(result.best_checkpoint, head=head)
        info = mlflow.pytorch.log_model(model, name="motion_model", registered_model_name=section.registered_model,
                                        serialization_format="pickle")
        client = MlflowClient()
        version = info.registered_model_version
        client.set_registered_model_alias(section.registered_model, "candidate", version)
        if real_win:
            client.set_registered_model_alias(section.registered_model, "champion", version)
    if publish:
        target = write_packaged_checkpoint(result.best_checkpoint, section.publish_to)
        logger.info("published %s -> %s (int8 weights)", result.best_checkpoint, target)
    rows = summary.round(4).to_dict("records")
    create_markdown_artifact(key="motion-vs-baseline", markdown="## Motion model vs BaselineLipSync (held-out)\n\n"
                             + markdown_table(rows, SUMMARY_COLUMNS), description=str(out_dir))
    logger.info("best epoch %d: %s; beats baseline on real held-out clips: %s; beats the ridge probe: %s",
                result.best_epoch, result.best_metrics, real_win, probe_win)
    return {"checkpoint": str(result.best_checkpoint), "beats_baseline_on_real": real_win,
            "beats_probe_on_real": probe_win, "summary": rows}


@flow(name="speech-features")
def features_flow(params_path: str | None = None) -> dict:
    """Encode every training/held-out clip (and the augmented copies) into ``train.feature_cache_dir``."""
    params = load_params(params_path)
    config = params.train.resolved()
    if not uses_encoder_features(config.model.front_end):
        get_run_logger().info("train preset %s has a %s front end: no encoder features to cache",
                              params.train.preset, config.model.front_end.kind)
        Path(config.feature_cache_dir).mkdir(parents=True, exist_ok=True)
        return {"encoded": 0}
    with mlflow_run("features", params):
        stats = features_task([Path(d) for d in params.train.data_dirs], config, head_from_config(params.head))
        log_metrics({k: v for k, v in stats.items() if isinstance(v, int | float)})
    get_run_logger().info("speech features (%s): %d clips, %d encoded, %d already cached", stats["encoder_id"],
                          stats["clips"], stats["encoded"], stats["cached"])
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=["train", "features"], default="train",
                        help="train (default) or features: only fill the speech-feature cache")
    parser.add_argument("--params")
    parser.add_argument("--publish", action="store_true", help="copy best.pt to train.publish_to")
    args = parser.parse_args(argv)
    if args.command == "features":
        print(json.dumps(features_flow(args.params)))
        return
    outcome = train_flow(args.params, publish=args.publish)
    print(json.dumps({k: v for k, v in outcome.items() if k != "summary"}))


if __name__ == "__main__":
    main()
