"""prefect.yaml against a real Prefect server and worker on loopback; a SIGTERM'd flow stops its temporary server."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from portraittalker.assets import REPO_ROOT

pytestmark = pytest.mark.slow
PREFECT = str(Path(sys.executable).parent / "prefect")
DEPLOYMENTS = {"generate-batch/scheduled", "eval-report/ci", "train/manual", "prepare/manual"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s:g} s")


def stop_group(process: subprocess.Popen, timeout_s: float = 15) -> None:
    """SIGTERM the process group the test started (then SIGKILL) and reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):  # children that outlived the leader
        os.killpg(process.pid, signal.SIGKILL)


def tiny_manifest(folder: Path, speech_wav: Path, jobs: int = 1, seconds: float = 1.0, size: int = 96) -> tuple:
    rows = []
    for index in range(jobs):
        audio = folder / f"speech_{index}.wav"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(index * 0.7), "-t", str(seconds),
                        "-i", str(speech_wav), str(audio)], check=True)
        rows.append({"job_id": f"job{index}", "prompt": ["an old man, grey beard", "a young woman, red hair",
                                                          "a bald man, studio lighting"][index % 3],
                     "audio": str(audio), "seed": index})
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    params = folder / "params.yaml"
    params.write_text(yaml.safe_dump({"render": {"image_size": size}, "designer": {"texture_size": 256}}))
    return manifest, params


def test_prefect_yaml_declares_the_deployments():
    config = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    names = set()
    for deployment in config["deployments"]:
        flow_file, function = deployment["entrypoint"].split(":")
        source = (REPO_ROOT / flow_file).read_text()
        flow_name = re.search(rf'@flow\(name="([^"]+)"\)\s*\ndef {function}\(', source).group(1)
        names.add(f"{flow_name}/{deployment['name']}")
        assert deployment["work_pool"]["name"] == "portraittalker-local"
    assert names == DEPLOYMENTS
    scheduled = next(d for d in config["deployments"] if d["entrypoint"].endswith(":generate_batch"))
    assert set(scheduled["parameters"]) == {"manifest", "out_dir", "params_path"}
    assert scheduled["schedules"][0]["cron"]


@pytest.fixture
def prefect_env(tmp_path):
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect_home"),
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "PREFECT_CLI_PROMPT": "false",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    env.pop("PREFECT_PROFILES_PATH", None)
    return port, env


def test_deployment_runs_through_a_real_server_and_worker(prefect_env, tmp_path, speech_wav):
    port, env = prefect_env
    manifest, params = tiny_manifest(tmp_path, speech_wav)
    out_dir = tmp_path / "out"
    logs = tmp_path / "logs"
    logs.mkdir()
    started: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        process = subprocess.Popen([PREFECT, *args], env=env, cwd=REPO_ROOT, start_new_session=True,
                                   stdout=(logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT)
        started.append(process)
        return process

    def cli(*args: str, timeout: float = 240) -> str:
        done = subprocess.run([PREFECT, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    try:
        server = start("server", "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui")
        wait_http(f"http://127.0.0.1:{port}/api/health", 150, server)
        cli("work-pool", "create", "portraittalker-local", "--type", "process", "--overwrite")
        # one deployment (each one imports its flow module: minutes on 2 busy cores); all four: the test above
        cli("--no-prompt", "deploy", "-n", "generate-batch/scheduled", timeout=480)
        assert "0 2 * * *" in cli("deployment", "inspect", "generate-batch/scheduled")
        run = cli("deployment", "run", "generate-batch/scheduled", "-p", f"manifest={manifest}",
                  "-p", f"out_dir={out_dir}", "-p", f"params_path={params}")
        flow_run_id = re.search(r"UUID:\s*([0-9a-f-]{36})", run).group(1)
        worker = start("worker", "worker", "start", "--pool", "portraittalker-local", "--run-once")
        worker.wait(timeout=600)
        state = json.loads(cli("api", "GET", f"/flow_runs/{flow_run_id}"))["state"]["type"]
        worker_log = (logs / "worker.log").read_text()
        assert state == "COMPLETED", worker_log[-3000:]
        results = pd.read_parquet(out_dir / "results.parquet")
        assert list(results["status"]) == ["ok"] and results["n_frames"].iloc[0] == 25
        assert (out_dir / "job0.mp4").stat().st_size > 1000
    finally:
        for process in reversed(started):
            stop_group(process)
    with pytest.raises(OSError):  # the server is gone
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)


def test_sigterm_stops_the_temporary_server(tmp_path, speech_wav):
    """A SIGTERM'd batch flow stops its ephemeral Prefect server, also when a second SIGTERM follows."""
    manifest, params = tiny_manifest(tmp_path, speech_wav, jobs=2, seconds=4.0)
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect_home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "flow.log"
    flow = subprocess.Popen([sys.executable, "-m", "flows.generate", "--manifest", str(manifest), "--out-dir",
                             str(tmp_path / "out"), "--params", str(params)], env=env, cwd=REPO_ROOT,
                            start_new_session=True, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not (match := re.search(r"Starting temporary server on (http://127\.0\.0\.1:\d+)", log.read_text())):
            assert flow.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        health = f"{match.group(1)}/api/health"
        wait_http(health, 180, flow)
        time.sleep(2)
        flow.send_signal(signal.SIGTERM)  # to the flow process only, not its group: the server must be stopped by it
        time.sleep(1)
        if flow.poll() is None:
            flow.send_signal(signal.SIGTERM)
        flow.wait(timeout=120)
        assert flow.returncode != 0
        with pytest.raises(OSError):
            urllib.request.urlopen(health, timeout=2)
        survivors = subprocess.run(["ps", "-o", "pid,ppid,etime,args", "-s", str(flow.pid)], capture_output=True,
                                   text=True).stdout.strip().splitlines()[1:]
        assert not survivors, f"processes of the flow's session outlived it: {survivors}"
        leftovers = [path.name for path in (tmp_path / "out").rglob("*") if ".tmp" in path.name]
        assert not leftovers, f"temp files of an interrupted job were left behind: {leftovers}"
    finally:
        stop_group(flow)
