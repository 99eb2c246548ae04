"""MLflow experiment tracking shared by every flow (local sqlite by default; MLFLOW_TRACKING_URI honoured)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow

from portraittalker.config import Params

# ``mlflow.set_tracking_uri`` also writes MLFLOW_TRACKING_URI into os.environ (for subprocesses); remember what we
# wrote so a later stage in this process still follows its own params rather than the previous stage's store.
_uri_set_here: str | None = None


def _user_tracking_uri() -> str | None:
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    return from_env if from_env and from_env != _uri_set_here else None


def tracking_uri(params: Params) -> str:
    """The user's MLFLOW_TRACKING_URI if they set one, else ``params.mlflow.tracking_uri``."""
    return _user_tracking_uri() or params.mlflow.tracking_uri


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> ``{"render.image_size": 512, ...}`` (MLflow params are flat strings)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _experiment_id(uri: str, name: str) -> str:
    """The experiment's id in this store, created if missing.

    Not ``mlflow.set_experiment``: that caches the id process-wide, and a later run against another store (a second
    flow in the same process, a test) would then look for an id that store does not have.
    """
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except mlflow.exceptions.MlflowException:  # created meanwhile by a concurrent stage
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


@contextmanager
def mlflow_run(stage: str, params: Params, tags: dict[str, str] | None = None) -> Iterator[mlflow.ActiveRun]:
    """One MLflow run per stage execution, with the whole typed params tree logged."""
    global _uri_set_here
    from_user = _user_tracking_uri()
    uri = from_user or params.mlflow.tracking_uri
    mlflow.set_tracking_uri(uri)
    _uri_set_here = None if from_user else uri
    experiment_id = _experiment_id(uri, params.mlflow.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=stage,
                          tags={"stage": stage, **(tags or {})}) as run:
        config = flatten(params.model_dump(mode="json"))
        # MLflow caps a value at 6000 chars and a batch at 100 params.
        items = [(k, str(v)[:500]) for k, v in config.items()]
        for start in range(0, len(items), 100):
            mlflow.log_params(dict(items[start:start + 100]))
        yield run


def log_artifacts(paths: list[Path], artifact_dir: str) -> None:
    for path in paths:
        if Path(path).is_file():
            mlflow.log_artifact(str(path), artifact_dir)


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A GitHub-markdown table for Prefect artifacts (no extra dependency)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(row.get(c, "")).replace("|", "\\|").replace("\n", " ")[:200] for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_METRIC_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")


def metric_name(name: str) -> str:
    """MLflow metric names allow alphanumerics and ``_-. :/`` only; job and view ids may carry ``+`` or ``@``."""
    return _METRIC_NAME_UNSAFE.sub("_", name)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Log finite numeric metrics under MLflow-safe names."""
    clean = {metric_name(k): float(v) for k, v in metrics.items() if v is not None and float(v) == float(v)}
    if clean:
        mlflow.log_metrics(clean, step=step)
