"""The batch flow on a 2-worker Dask LocalCluster (prefect-dask) gives the thread runner's results."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from prefect.task_runners import ThreadPoolTaskRunner

from flows.generate import main, make_task_runner
from portraittalker.assets import REPO_ROOT
from portraittalker.config import load_params
from tests.test_orchestration_prefect import tiny_manifest

COLUMNS = ["job_id", "status", "n_frames", "inputs_hash"]


def test_task_runner_from_params():
    from prefect_dask import DaskTaskRunner

    params = load_params(overrides={"generate": {"task_runner": "dask", "dask": {"n_workers": 3}}})
    runner = make_task_runner(params)
    assert isinstance(runner, DaskTaskRunner)
    assert runner.cluster_kwargs["n_workers"] == 3 and runner.cluster_kwargs["host"] == "127.0.0.1"
    remote = make_task_runner(params, dask_address="tcp://127.0.0.1:8786")
    assert remote.address == "tcp://127.0.0.1:8786"
    assert isinstance(make_task_runner(params, "threads", max_parallel=2), ThreadPoolTaskRunner)
    with pytest.raises(SystemExit):
        main(["--manifest", "x.csv", "--task-runner", "ray"])


@pytest.mark.slow
def test_dask_local_cluster_matches_threads(tmp_path, speech_wav):
    manifest, params = tiny_manifest(tmp_path, speech_wav, jobs=3, seconds=1.0, size=128)
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect_home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    env.pop("PREFECT_API_URL", None)
    tables = {}
    for runner, extra in (("threads", []), ("dask", ["--max-parallel", "2"])):
        out_dir = tmp_path / runner
        done = subprocess.run([sys.executable, "-m", "flows.generate", "--manifest", str(manifest), "--out-dir",
                               str(out_dir), "--params", str(params), "--task-runner", runner, *extra],
                              env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        if runner == "dask":
            assert "LocalCluster" in done.stdout + done.stderr
        tables[runner] = pd.read_parquet(out_dir / "results.parquet")[COLUMNS].sort_values("job_id")
        assert len(list(out_dir.glob("job*.mp4"))) == 3
    assert list(tables["threads"]["status"]) == ["ok"] * 3
    pd.testing.assert_frame_equal(tables["threads"].reset_index(drop=True), tables["dask"].reset_index(drop=True))
