"""A real `mlflow server` on loopback (sqlite backend): the flows' logging helpers reach it via MLFLOW_TRACKING_URI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from portraittalker.config import load_params
from tasks.experiment import log_artifacts, log_metrics, mlflow_run
from tests.test_orchestration_prefect import free_port, stop_group, wait_http

pytestmark = pytest.mark.slow
MLFLOW = str(Path(sys.executable).parent / "mlflow")


def test_logging_to_a_real_mlflow_server(tmp_path, monkeypatch):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = subprocess.Popen([MLFLOW, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                               "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                               "--artifacts-destination", str(tmp_path / "artifacts")],
                              cwd=tmp_path, start_new_session=True, stdout=log.open("w"), stderr=subprocess.STDOUT)
    previous_uri = mlflow.get_tracking_uri()
    try:
        wait_http(f"{uri}/health", 240, server)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        params = load_params(overrides={"mlflow": {"experiment": "orchestration-test"}})
        table = tmp_path / "results.csv"
        table.write_text("job_id,status\njob0,ok\n")
        with mlflow_run("generate", params, tags={"manifest": "tiny.csv"}) as run:
            log_metrics({"jobs_ok": 1, "wall_s.job0": 2.5})
            log_artifacts([table], "results")
        client = mlflow.MlflowClient(tracking_uri=uri)
        arrived = client.get_run(run.info.run_id)
        assert arrived.data.metrics == {"jobs_ok": 1.0, "wall_s.job0": 2.5}
        assert arrived.data.params["render.image_size"] == str(params.render.image_size)
        assert arrived.data.tags["stage"] == "generate" and arrived.data.tags["manifest"] == "tiny.csv"
        assert [a.path for a in client.list_artifacts(run.info.run_id, "results")] == ["results/results.csv"]
        assert (tmp_path / "mlflow.db").is_file()  # the server's sqlite store, not a local file of the client
    finally:
        mlflow.set_tracking_uri(previous_uri)
        stop_group(server)
    with pytest.raises(OSError):
        wait_http(f"{uri}/health", 1)
