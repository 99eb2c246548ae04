"""Batch generation flow: a manifest of (job_id, prompt, audio, seed) -> videos + a results table.

Per-job failures are recorded (status ``failed`` with the reason) and the batch goes on; jobs whose
video exists with the same inputs hash are skipped. Everything is logged to MLflow.

    python -m flows.generate --manifest examples/demo_manifest.csv --out-dir outputs/generate
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from portraittalker.batch import ManifestError, read_manifest_rows, write_results_table
from portraittalker.config import Params, load_params
from portraittalker.media.files import sweep_stale_temps
from portraittalker.media.outputs import OutputPathError, Terminated, check_writable_dir, terminate_on_sigterm
from portraittalker.media.video import abort_open_writers
from portraittalker.render.views import NOVEL_VIEWS
from tasks.experiment import log_artifacts, log_metrics, markdown_table, mlflow_run
from tasks.generate import generate_job, job_row

RESULTS_FILE = "results.parquet"


def _failure_reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()[:1000]


@flow(name="generate-batch")
def generate_batch(manifest: str, out_dir: str | None = None, params_path: str | None = None,
                   novel_views: bool = False) -> str:
    """Run every manifest job (and its four novel views, if asked); return the path of the results table.

    Manifest rows that are not valid jobs are recorded as failed (with their line and column) and the rest run.
    ``results.parquet`` is merged under a lock: concurrent runs into one folder keep each other's rows.
    """
    logger = get_run_logger()
    params = load_params(params_path)
    output_dir = Path(out_dir or params.generate.out_dir)
    jobs, row_errors = read_manifest_rows(manifest)
    check_writable_dir(output_dir, "--out-dir")
    for stale in sweep_stale_temps(output_dir):
        logger.info("removed a stale temporary file of an interrupted run: %s", stale)
    for bad in row_errors:
        logger.warning("skipping a manifest row: %s", bad)
    if novel_views:  # Talk3D's protocol: the same job at four (yaw, pitch) offsets
        jobs = [view for job in jobs for view in
                [job, *(replace(job, yaw_deg=yaw, pitch_deg=pitch) for yaw, pitch in NOVEL_VIEWS)]]
    logger.info("%d jobs from %s -> %s", len(jobs), manifest, output_dir)

    with mlflow_run("generate", params, tags={"manifest": str(manifest)}):
        futures = [generate_job.submit(job, output_dir, params) for job in jobs]
        rows = [bad.result_row() for bad in row_errors]
        for job, future in zip(jobs, futures, strict=True):
            try:
                rows.append(future.result())
            except Exception as error:  # one bad job must not stop the batch: record it and go on
                logger.warning("job %s failed: %s", job.job_id, _failure_reason(error))
                rows.append({**job_row(job), "status": "failed", "reason": _failure_reason(error), "video_path": ""})
        results_path = write_results_table(rows, output_dir / RESULTS_FILE, manifest=Path(manifest).resolve())
        table = pd.DataFrame(rows)
        _log_batch(table, results_path, params.mlflow.log_videos)

    counts = table["status"].value_counts().to_dict()
    create_markdown_artifact(
        key="generate-results",
        markdown=f"## Batch generation\n\n{counts}\n\n" + markdown_table(rows, ["job_id", "status", "reason"]),
        description="Per-job status of the generate flow",
    )
    logger.info("results: %s -> %s", counts, results_path)
    return str(results_path)


def _log_batch(table: pd.DataFrame, results_path: Path, log_videos: bool) -> None:
    counts = table["status"].value_counts()
    log_metrics({f"jobs_{status}": int(counts.get(status, 0)) for status in ("ok", "skipped", "failed")})
    done = table[table["status"] == "ok"]
    per_job = {}
    for row in done.to_dict("records"):
        per_job[f"wall_s.{row['job_id']}"] = row["wall_s"]
        per_job[f"realtime_factor.{row['job_id']}"] = row["duration_s"] / max(row["wall_s"], 1e-9)
    log_metrics(per_job)
    if len(done):
        log_metrics({"mean_realtime_factor": float((done["duration_s"] / done["wall_s"]).mean())})
    log_artifacts([results_path], "results")
    if log_videos:
        log_artifacts([Path(p) for p in table.loc[table["status"] == "ok", "video_path"]], "videos")


TASK_RUNNERS = ("threads", "dask")


def make_task_runner(params: Params, kind: str | None = None, max_parallel: int | None = None,
                     dask_address: str | None = None) -> TaskRunner:
    """The task runner of ``generate.task_runner`` (or ``kind``): a thread pool, or prefect-dask's DaskTaskRunner.

    Dask: the scheduler at ``dask_address`` / ``generate.dask.address`` when given, else a ``LocalCluster`` (on
    loopback, no dashboard) of ``max_parallel`` or ``generate.dask.n_workers`` worker processes.
    """
    section = params.generate
    kind = kind or section.task_runner
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=max_parallel or section.max_parallel_jobs)
    if kind != "dask":
        raise ValueError(f"task runner {kind!r} is not one of {list(TASK_RUNNERS)}")
    from prefect_dask import DaskTaskRunner

    address = dask_address or section.dask.address
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs={
        "n_workers": max_parallel or section.dask.n_workers, "threads_per_worker": section.dask.threads_per_worker,
        "processes": True, "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--out-dir")
    parser.add_argument("--params")
    parser.add_argument("--novel-views", action="store_true", help="also render each job at the 4 protocol views")
    parser.add_argument("--max-parallel", type=int, help="concurrent jobs (default: params generate.max_parallel_jobs)")
    parser.add_argument("--task-runner", choices=TASK_RUNNERS,
                        help="threads (one process) or dask (default: params generate.task_runner)")
    parser.add_argument("--dask-address", help="existing Dask scheduler (default: params generate.dask.address, "
                        "else a LocalCluster of generate.dask.n_workers processes; --max-parallel overrides that)")
    args = parser.parse_args(argv)
    try:  # what can be checked before Prefect starts is reported as one line, not a flow-run traceback
        params = load_params(args.params)
        read_manifest_rows(args.manifest)
        check_writable_dir(Path(args.out_dir or params.generate.out_dir), "--out-dir")
    except (ManifestError, OutputPathError, ValueError) as error:
        sys.exit(f"error: {error}")
    kind = args.task_runner or params.generate.task_runner
    runner = generate_batch.with_options(task_runner=make_task_runner(params, kind, args.max_parallel,
                                                                      args.dask_address))
    try:
        # SIGTERM unwinds: temp files and the temporary server are cleaned up
        ran_temporary_server = not PREFECT_API_URL.value()
        with stop_temporary_server(), terminate_on_sigterm(), shared_api_for_workers(kind):
            print(runner(args.manifest, args.out_dir, args.params, novel_views=args.novel_views))
    except Terminated as stop:
        message = f"error: {stop}; stopped, finished videos kept (a rerun skips them)"
        if not ran_temporary_server:
            sys.exit(message)
        # Job threads that outlive the flow go on logging, and at exit Prefect would flush those logs through a
        # fresh temporary server that nothing stops. Their half-written videos are removed here; then leave at once.
        abort_open_writers()
        print(message, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)


def _temporary_servers() -> set:
    from prefect.server.api.server import SubprocessASGIServer

    return set(SubprocessASGIServer._instances.values())


def _stop_temporary_servers(keep: set, drain: bool = True) -> None:
    servers = _temporary_servers() - keep
    if servers and drain:  # flush the run's logs and events while the server still answers (else: retries at exit)
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for service in (APILogWorker, EventsWorker):
            service.drain_all(timeout=15, at_exit=False)
    for server in servers:
        server.stop()


@contextmanager
def shared_api_for_workers(kind: str) -> Iterator[None]:
    """With Dask and no ``PREFECT_API_URL``: one temporary server for the flow and all its worker processes.

    Each Dask worker is a Prefect client of its own; without a server URL every one would start (and wait for) a
    temporary server of its own. The flow's is started here and its URL put in the environment that the
    LocalCluster's workers inherit. A worker on another machine cannot reach it (loopback): give such clusters a
    real server (``make serve``, ``PREFECT_API_URL`` on the workers).
    """
    from prefect.settings import temporary_settings

    if kind != "dask" or PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)


@contextmanager
def stop_temporary_server() -> Iterator[None]:
    """Stop Prefect's ephemeral API server when the block ends, however it ends.

    Prefect stops it only from ``atexit``, which never runs when a second SIGTERM arrives while the interpreter
    waits for in-flight job threads after the first one (the default action kills the process on the spot and the
    uvicorn child is orphaned). Here it is stopped as soon as the flow call unwinds, and a SIGTERM arriving after
    the block stops it before raising :class:`Terminated` again. A no-op with a real server (``PREFECT_API_URL``).
    """
    earlier = _temporary_servers()  # a test harness's server, say: not ours to stop

    def _on_sigterm(signum: int, _frame: object) -> None:
        _stop_temporary_servers(earlier, drain=False)  # no waiting on locks the interrupted code may hold
        raise Terminated(signum)

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main else None
    try:
        yield
    finally:
        _stop_temporary_servers(earlier)
        # keep the handler for the rest of the process: job threads may still be finishing their video
        if main and previous not in (None, signal.SIG_DFL):
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    main()
