"""Evaluation flows.

``evaluate`` scores a results table (or a video / folder) against optional reference videos and logs every
metric and the HTML report to MLflow. ``eval_report`` is the CI entry point: it generates the benchmark
manifest (with the novel-view renders), evaluates it and fails when a metric regresses past the thresholds
in ``params.yaml`` (``evaluate.thresholds``).

    python -m flows.evaluate --generated outputs/generate/results.parquet --reference ../shared/data/real_clips
    python -m flows.evaluate --report        # the whole chain on the bundled data; exit 1 on a regression
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import mlflow
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from eval.evaluate import check_regressions
from flows.generate import generate_batch
from portraittalker.config import load_params
from portraittalker.media.files import write_text_atomic
from tasks.evaluate import evaluate_videos, heldout_task
from tasks.experiment import log_artifacts, log_metrics, markdown_table, metric_name, mlflow_run


@flow(name="evaluate")
def evaluate_flow(generated: str, reference: str | None = None, out_dir: str | None = None,
                  params_path: str | None = None) -> dict:
    """Score ``generated``; return ``{"metrics", "unavailable", "regressions", "paths"}``."""
    logger = get_run_logger()
    params = load_params(params_path)
    config = params.evaluate
    output_dir = Path(out_dir or config.out_dir)
    reference = reference or config.reference
    with mlflow_run("evaluate", params, tags={"generated": str(generated), "reference": str(reference)}):
        result = evaluate_videos(generated, reference, output_dir, config.metrics)
        metrics, unavailable = result["metrics"], result["unavailable"]
        log_metrics(metrics)
        mlflow.set_tags({metric_name(f"unavailable.{k}"): str(v)[:250] for k, v in unavailable.items()})
        log_artifacts([Path(p) for p in result["paths"].values()], "evaluation")
        regressions = check_regressions(metrics, config.thresholds, missing_ok=config.thresholds_missing_ok)
        log_metrics({"regressions": len(regressions)})
    rows = [{"metric": k, "measured": f"{v:.4g}"} for k, v in sorted(metrics.items()) if not k.startswith("view_")]
    rows += [{"metric": k, "measured": f"unavailable: {v}"} for k, v in sorted(unavailable.items())]
    create_markdown_artifact(
        key="evaluation-summary",
        markdown="## Evaluation\n\n" + markdown_table(rows, ["metric", "measured"])
        + ("\n\n**Regressions:**\n" + "\n".join(f"- {r}" for r in regressions) if regressions else ""),
        description=f"Metrics of {generated}",
    )
    for message in regressions:
        logger.warning("regression: %s", message)
    return {"metrics": metrics, "unavailable": unavailable, "regressions": regressions, "paths": result["paths"]}


@flow(name="eval-report")
def eval_report(params_path: str | None = None) -> dict:
    """Generate the benchmark manifest (frontal + novel views), evaluate it, check thresholds."""
    params = load_params(params_path)
    config = params.evaluate
    results = generate_batch(config.manifest, config.generate_dir, params_path, novel_views=config.novel_views)
    outcome = evaluate_flow(results, config.reference, config.out_dir, params_path)
    heldout = config.heldout
    dataset = Path(heldout.dataset)
    if heldout.enabled and (dataset / "clips.parquet").is_file():
        render = params.render.model_copy(update={"image_size": heldout.image_size})
        summary = heldout_task(dataset, Path(config.out_dir) / "heldout", params.model_copy(update={"render": render}),
                               heldout.split, heldout.max_clips, heldout.speech_dir)
        outcome["metrics"].update(summary)
        outcome["paths"]["heldout"] = str(Path(config.out_dir) / "heldout" / "heldout.html")
        with mlflow_run("evaluate-heldout", params):
            log_metrics(summary)
            log_artifacts([Path(config.out_dir) / "heldout" / n for n in ("heldout.html", "heldout.parquet")],
                          "heldout")
        outcome["regressions"] = check_regressions(outcome["metrics"], config.thresholds,
                                                   missing_ok=config.thresholds_missing_ok)
        for message in outcome["regressions"]:
            get_run_logger().warning("regression: %s", message)
    elif heldout.enabled:
        get_run_logger().warning("held-out lip sync skipped: %s not prepared (dvc repro prepare)", dataset)
    # Tracked in git (DVC metrics), so `dvc metrics diff` compares benchmark reruns across commits.
    write_text_atomic(Path("metrics") / "evaluate.json", json.dumps(outcome["metrics"], indent=1, sort_keys=True))
    return outcome


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generated", help="results table, video or folder to score")
    parser.add_argument("--reference", help="reference video, folder or table (default: params evaluate.reference)")
    parser.add_argument("--out-dir")
    parser.add_argument("--params")
    parser.add_argument("--report", action="store_true", help="run generate + evaluate + regression check")
    args = parser.parse_args(argv)
    if args.report:
        outcome = eval_report(args.params)
    elif args.generated:
        outcome = evaluate_flow(args.generated, args.reference, args.out_dir, args.params)
    else:
        parser.error("give --generated PATH or --report")
    print(json.dumps({"report": outcome["paths"]["report"], "regressions": outcome["regressions"]}, indent=1))
    sys.exit(1 if outcome["regressions"] else 0)


if __name__ == "__main__":
    main()
