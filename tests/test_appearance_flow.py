"""The avatars flow: a manifest with an SDS job (tiny random SD) and a bad row; a rerun reuses the avatar."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):
        yield


def test_avatars_flow_makes_records_failures_and_skips_on_rerun(prefect_harness, tmp_path, monkeypatch):
    from test_appearance_sds import save_tiny_stable_diffusion

    from flows.avatars import avatars_flow

    sd = save_tiny_stable_diffusion(tmp_path / "sd")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump({"appearance": {
        "texture": {"size": 32, "base_resolution": 4, "levels": 3, "init": "grey"},
        "geometry": {"learn_identity": False, "displacement": False},
        "lighting": {"spherical_harmonics": False},
        "views": {"batch_size": 1, "yaw_deg": [0, 0], "pitch_deg": [0, 0], "expression_probability": 0,
                  "jaw_probability": 0, "pool": 1},
        "render": {"image_size": 24, "preview_size": 24, "preview_yaws": [0], "components": ["face"]},
        "optim": {"steps": 2}, "sds": {"model": str(sd), "guidance_scale": 7.5}}}))
    manifest = tmp_path / "avatars.csv"
    pd.DataFrame([{"job_id": "a", "prompt": "a face", "photo": "", "seed": "1"},
                  {"job_id": "bad", "prompt": "", "photo": "", "seed": ""}]).to_csv(manifest, index=False)
    out = tmp_path / "avatars"
    results = pd.read_parquet(avatars_flow(str(manifest), str(out), str(params_path)))
    status = dict(zip(results.job_id, results.status, strict=True))
    assert status == {"a": "done", "bad": "failed"}
    assert "exactly one of prompt or photo" in results.set_index("job_id").loc["bad", "reason"]
    assert (out / "a" / "avatar.json").is_file() and (out / "a" / "turntable.png").is_file()
    again = pd.read_parquet(avatars_flow(str(manifest), str(out), str(params_path)))
    assert dict(zip(again.job_id, again.status, strict=True))["a"] == "skipped"
    mlflow.set_tracking_uri(tracking)
    runs = mlflow.search_runs(search_all_experiments=True)
    assert len(runs) == 2
    client = mlflow.tracking.MlflowClient()
    first = runs.sort_values("start_time").iloc[0].run_id
    names = {a.path for a in client.list_artifacts(first, "avatars/a")}
    assert {"avatars/a/turntable.png", "avatars/a/loss_curve.png"} <= names
