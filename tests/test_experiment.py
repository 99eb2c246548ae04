from __future__ import annotations

import mlflow

from tasks.experiment import flatten, log_metrics, markdown_table, metric_name, mlflow_run


def test_metric_names_are_made_mlflow_safe():
    assert metric_name("wall_s.job_yaw+15_pitch+10") == "wall_s.job_yaw_15_pitch_10"
    assert metric_name("real.all.model@x") == "real.all.model_x"
    assert metric_name("ok-name.with:colon/and space") == "ok-name.with:colon/and space"


def test_log_metrics_accepts_unsafe_names_and_drops_nan(tmp_path):
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with mlflow.start_run(experiment_id=mlflow.create_experiment("unsafe-names")) as run:
            log_metrics({"view_yaw+30_pitch+20_lmd": 1.5, "nan_metric": float("nan")})
        logged = mlflow.get_run(run.info.run_id).data.metrics
    finally:
        mlflow.set_tracking_uri(previous_uri)
    assert logged == {"view_yaw_30_pitch_20_lmd": 1.5}


def test_runs_against_a_second_store_find_their_experiment(tmp_path, monkeypatch):
    """Two stages in one process against two stores: the second must not reuse the first store's experiment id."""
    from portraittalker.config import load_params

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    previous_uri = mlflow.get_tracking_uri()
    try:
        for name in ("first", "second"):
            params = load_params()
            params.mlflow.tracking_uri = f"sqlite:///{tmp_path / name}.db"
            params.mlflow.experiment = f"exp-{name}"
            with mlflow_run("stage", params) as run:
                log_metrics({"x": 1.0})
            experiment = mlflow.MlflowClient(params.mlflow.tracking_uri).get_experiment(run.info.experiment_id)
            assert experiment.name == f"exp-{name}"
    finally:
        mlflow.set_tracking_uri(previous_uri)


def test_flatten_and_markdown_table():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
    table = markdown_table([{"job": "x|y", "status": "ok"}], ["job", "status"])
    assert table.splitlines() == ["| job | status |", "|---|---|", "| x\\|y | ok |"]
