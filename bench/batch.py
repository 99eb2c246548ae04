"""Throughput of the batch flow (`flows/generate.py`): threads vs a Dask LocalCluster, resume, and interruption.

    python bench/batch.py [--jobs 8] [--seconds 1] [--size 128] [--dask-workers 2]
    python bench/batch.py --jobs 6 --interrupt-after 2     # also: SIGTERM a run, rerun, check what was kept

Each run is a whole ``python -m flows.generate`` process into a fresh out dir (start-up, Prefect's temporary
server, MLflow logging included: what a user waits for), on a manifest of short jobs from
``examples/make_dataset_manifest.py``. Per-job overhead = wall / jobs minus the mean pipeline time of the jobs
that ran (the sum of the results table's ``time_*_s`` columns). The threads run is then repeated on its out dir:
every job should be ``skipped``, and that rerun's wall (nothing rendered) is taken as a process's fixed cost for
the "beyond start-up" column: (wall - rerun wall) / jobs - pipeline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table

from portraittalker.assets import REPO_ROOT
from portraittalker.config import load_params

console = Console(width=None if sys.stdout.isatty() else 140)  # a log file gets whole rows


@dataclass
class Run:
    name: str
    wall_s: float
    results: pd.DataFrame

    def count(self, status: str) -> int:
        return int((self.results["status"] == status).sum())

    def pipeline_s(self) -> float:
        """Mean pipeline seconds of the jobs this run rendered (skipped rows carry their earlier timings)."""
        done = self.results[self.results["status"] == "ok"]
        columns = [c for c in done.columns if c.startswith("time_") and c.endswith("_s")]
        return float(done[columns].sum(axis=1).mean()) if len(done) and columns else 0.0


def flow_env(work: Path) -> dict[str, str]:
    """A private Prefect home (temporary server) and MLflow store, as the orchestration tests use."""
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect_home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", "COLUMNS": "200"}
    env.pop("PREFECT_API_URL", None)  # a real server would make the runs share (and wait on) it
    return env


def flow_command(work: Path, out_dir: Path, runner: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "flows.generate", "--manifest", str(work / "manifest.csv"), "--out-dir",
            str(out_dir), "--params", str(work / "params.yaml"), "--task-runner", runner, *extra]


def run_flow(work: Path, name: str, out_dir: Path, runner: str, extra: list[str], timeout_s: float) -> Run:
    log = work / f"{name}.log"
    start = time.perf_counter()
    with log.open("w") as handle:
        done = subprocess.run(flow_command(work, out_dir, runner, extra), env=flow_env(work), cwd=REPO_ROOT,
                              stdout=handle, stderr=subprocess.STDOUT, timeout=timeout_s)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{name} failed (exit {done.returncode}); last lines of {log}:\n{log.read_text()[-3000:]}")
    return Run(name, wall, pd.read_parquet(out_dir / "results.parquet"))


def temp_files(folder: Path) -> list[Path]:
    """Our temp files (``.<stem>.<pid>@<host>.<random>.tmp<suffix>``, portraittalker/media/files.py) in ``folder``."""
    return sorted(p for p in folder.glob(".*") if ".tmp" in p.name)


def finished_jobs(folder: Path) -> set[str]:
    """Jobs whose video and sidecar are both in place (the sidecar is written last, after the video)."""
    return {p.stem for p in folder.glob("*.json") if p.with_suffix(".mp4").is_file()}


def interrupt_check(work: Path, after: int, extra: list[str], timeout_s: float) -> None:
    """SIGTERM a threads run once ``after`` jobs are finished, rerun it, check nothing half-written or redone."""
    out_dir = work / "out_interrupt"
    out_dir.mkdir()
    log = work / "interrupted.log"
    start = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(flow_command(work, out_dir, "threads", extra), env=flow_env(work), cwd=REPO_ROOT,
                                   stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while len(finished_jobs(out_dir)) < after and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        signalled = process.poll() is None
        at_signal = len(finished_jobs(out_dir))
        if signalled:
            process.send_signal(signal.SIGTERM)  # the flow's own handler: unwind, remove temps, stop its server
        try:
            exit_code = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            exit_code = process.wait()
    stopped_s = time.perf_counter() - start
    kept = finished_jobs(out_dir)
    temps_after_stop = temp_files(out_dir)
    orphans = sorted(p.name for p in out_dir.glob("*.mp4") if p.stem not in kept)  # a video without its sidecar
    rerun = run_flow(work, "after_interrupt", out_dir, "threads", extra, timeout_s)
    status = dict(zip(rerun.results["job_id"].astype(str), rerun.results["status"], strict=True))
    redone = sorted(job for job in kept if status.get(job) != "skipped")
    table = Table(title=f"interrupt: SIGTERM after {after} finished jobs, then rerun on the same out dir")
    table.add_column("check")
    table.add_column("result")
    table.add_row("SIGTERM sent / exit code", f"{'yes' if signalled else 'no (run ended first)'} / {exit_code}")
    table.add_row("wall until stopped (s)", f"{stopped_s:.1f}")
    table.add_row("finished when signalled / kept after the stop (in-flight jobs may finish)",
                  f"{at_signal} / {len(kept)}: {', '.join(sorted(kept))}")
    table.add_row("temp files left after the stop", ", ".join(p.name for p in temps_after_stop) or "none")
    table.add_row("videos without a sidecar", ", ".join(orphans) or "none")
    table.add_row("rerun wall (s)", f"{rerun.wall_s:.1f}")
    table.add_row("rerun statuses", str(rerun.results["status"].value_counts().to_dict()))
    table.add_row("kept jobs redone", ", ".join(redone) or "none (all skipped)")
    table.add_row("temp files left after the rerun", ", ".join(p.name for p in temp_files(out_dir)) or "none")
    console.print(table)
    if redone or temps_after_stop or orphans or rerun.count("failed"):
        raise SystemExit("interrupt check failed: see the table above and " + str(log))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0, help="speech seconds per job")
    parser.add_argument("--size", type=int, default=128, help="render.image_size")
    parser.add_argument("--max-parallel", type=int, help="threads run: concurrent jobs (default: params)")
    parser.add_argument("--dask-workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--runners", nargs="+", choices=("threads", "dask"), default=["threads", "dask"])
    parser.add_argument("--interrupt-after", type=int, metavar="K", help="also SIGTERM a threads run after K jobs")
    parser.add_argument("--work", type=Path, help="keep manifest, out dirs and logs here (default: a temp dir)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per flow run")
    args = parser.parse_args(argv)
    if args.interrupt_after is not None and not 0 < args.interrupt_after < args.jobs:
        parser.error("--interrupt-after K needs 0 < K < --jobs (some jobs must be left to interrupt)")

    work = Path(tempfile.mkdtemp(prefix="bench_batch_")) if args.work is None else args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([sys.executable, str(REPO_ROOT / "examples" / "make_dataset_manifest.py"), "--out",
                        str(work / "manifest.csv"), "--jobs", str(args.jobs), "--seconds", f"{args.seconds:g}"],
                       check=True, cwd=REPO_ROOT)
        # The repository's params with a small frame (the test suite's texture size): the flow's cost, not 512².
        params = load_params(overrides={"render": {"image_size": args.size}, "designer": {"texture_size": 256}})
        (work / "params.yaml").write_text(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
        threads_extra = ["--max-parallel", str(args.max_parallel)] if args.max_parallel else []
        runs = []
        for runner in args.runners:
            extra = ["--max-parallel", str(args.dask_workers)] if runner == "dask" else threads_extra
            label = f"dask ({args.dask_workers} workers)" if runner == "dask" else \
                f"threads ({args.max_parallel or params.generate.max_parallel_jobs} parallel)"
            runs.append(run_flow(work, label, work / f"out_{runner}", runner, extra, args.timeout))
            if runner == "threads":  # resume: the same out dir again, nothing to render
                runs.append(run_flow(work, "threads rerun (resume)", work / "out_threads", runner, extra,
                                     args.timeout))
        table = Table(title=f"batch flow: {args.jobs} jobs x {args.seconds:g} s speech at {args.size}², "
                            f"{os.cpu_count()} CPUs")
        for column in ("run", "jobs", "ok / skipped / failed", "wall (s)", "jobs / hour", "pipeline s / job",
                       "overhead s / job", "overhead s / job beyond start-up"):
            table.add_column(column, justify="left" if column == "run" else "right")
        # The resume run renders nothing: its wall is the fixed cost of a flow process (start-up, server, hashing).
        fixed_s = next((run.wall_s for run in runs if "rerun" in run.name), None)
        for run in runs:
            jobs = len(run.results)
            overhead = run.wall_s / jobs - run.pipeline_s()
            beyond = "" if fixed_s is None or "rerun" in run.name else \
                f"{(run.wall_s - fixed_s) / jobs - run.pipeline_s():.2f}"
            table.add_row(run.name, str(jobs), f"{run.count('ok')} / {run.count('skipped')} / {run.count('failed')}",
                          f"{run.wall_s:.1f}", f"{3600 * jobs / run.wall_s:.0f}", f"{run.pipeline_s():.2f}",
                          f"{overhead:.2f}", beyond)
        console.print(table)
        if args.interrupt_after is not None:
            interrupt_check(work, args.interrupt_after, threads_extra, args.timeout)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            console.print(f"manifest, out dirs and logs kept in {work}")


if __name__ == "__main__":
    main()
