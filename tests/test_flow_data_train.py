"""synth -> prepare -> train flows on tiny data: tables, recovery, MLflow registry, published checkpoint."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):
        yield


def test_data_and_training_flows(prefect_harness, tmp_path, shared_dir, monkeypatch):
    from flows.prepare import prepare_flow, synth_flow
    from flows.train import train_flow
    from portraittalker.motion.checkpoint import load_motion_model

    monkeypatch.chdir(tmp_path)  # the prepare flow writes metrics/prepare.json relative to the run folder
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    params = {
        "synth": {"out_dir": str(tmp_path / "synth"), "languages": ["en", "ko"], "clips_per_language": 2,
                  "image_size": 128, "clips_per_speaker": 1},
        "prepare": {"out_dir": str(tmp_path / "prepared"), "workers": 1,
                    "inputs": [{"source": "synthetic", "path": str(tmp_path / "synth")},
                               {"source": "folder", "path": str(shared_dir / "data" / "real_clips"),
                                "language": "en"}],
                    "split_overrides": {"WDA_KatieHill": "test", "WDA_AlexandriaOcasioCortez": "train"},
                    "preview": {"enabled": False}},
        "train": {"data_dirs": [str(tmp_path / "synth"), str(tmp_path / "prepared")],
                  "out_dir": str(tmp_path / "model"), "publish_to": str(tmp_path / "published.pt"),
                  "overrides": {"max_epochs": 2, "steps_per_epoch": 3, "window_frames": 50,
                                "model": {"d_model": 32, "n_layers": 1, "front_end": {"conv_channels": 32}}}},
    }
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params))

    synth_flow(str(params_path))
    corpus = pd.read_parquet(tmp_path / "synth" / "clips.parquet")
    assert len(corpus) == 4 and (corpus["status"] == "ok").all()

    prepared = tmp_path / "prepared"
    prepare_flow(str(params_path))
    clips = pd.read_parquet(prepared / "clips.parquet")
    assert (clips["status"] == "ok").sum() == 6
    assert clips.set_index("clip_id").loc["WDA_KatieHill_000", "split"] == "test"
    recovery = pd.read_parquet(prepared / "recovery.parquet")
    assert len(recovery) == 4 and recovery["lip_gap_corr"].mean() > 0.5  # fitting follows the true mouth
    summary = json.loads((tmp_path / "metrics" / "prepare.json").read_text())
    assert summary["clips_ok"] == 6 and summary["fit_error_px_mean"] < 5

    outcome = train_flow(str(params_path), publish=True)
    model = load_motion_model(tmp_path / "published.pt")
    assert model is not None
    kinds = {row["kind"] for row in outcome["summary"]}
    assert "real" in kinds  # the held-out real speaker was scored, model and baseline
    # The Whisper-feature model is compared with the baseline and with a ridge probe on the same features.
    assert {row["method"] for row in outcome["summary"]} == {"model", "baseline", "probe"}
    assert isinstance(outcome["beats_probe_on_real"], bool)
    assert model.config.front_end.encoder_id.startswith("whisper-tiny.en@")
    assert any((tmp_path / "data" / "features").rglob("*.npy"))  # the cache, relative to the run folder
    mlflow.set_tracking_uri(tracking)
    runs = mlflow.search_runs(experiment_names=["portraittalker"])
    assert set(runs["tags.stage"]) == {"synth", "prepare", "train"}
    version = MlflowClient().get_model_version_by_alias("portraittalker-motion", "candidate")
    assert int(version.version) == 1

    # Changed training params: the stage starts over rather than failing on the old resumable checkpoint.
    params["train"]["overrides"]["max_epochs"] = 1
    params_path.write_text(yaml.safe_dump(params))
    train_flow(str(params_path))
    assert len(list((tmp_path / "model").rglob("last.stale.pt"))) == 3  # one per ensemble member
    version = MlflowClient().get_model_version_by_alias("portraittalker-motion", "candidate")
    assert int(version.version) == 2
