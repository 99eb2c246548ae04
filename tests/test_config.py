from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from portraittalker.assets import REPO_ROOT
from portraittalker.config import ConfigError, PrepareConfig, load_params


def test_repository_params_load_and_match_dvc_params():
    params = load_params()
    assert params.head.model == "ict-facekit" and params.render.image_size == 512
    assert params.train.resolved().model.d_model > 0
    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    top_level = set(params.model_dump())
    for stage in dvc["stages"].values():
        for key in stage.get("params", []):
            assert key.split(".")[0] in top_level, f"dvc.yaml names unknown param {key}"


def test_unknown_and_invalid_keys_are_errors_naming_the_key(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("render:\n  image_sise: 256\n")
    with pytest.raises(ConfigError, match="image_sise"):
        load_params(path)
    path.write_text("render:\n  image_size: 7\n")
    with pytest.raises(ConfigError, match="image_size"):
        load_params(path)
    path.write_text("train:\n  overrides: {max_epochs: 0}\n")
    with pytest.raises(ConfigError, match="max_epochs"):
        load_params(path)
    path.write_text("motion:\n  mouth_gain: 1.3\n")  # renamed to expression_gain: never silently ignored
    with pytest.raises(ConfigError, match="mouth_gain"):
        load_params(path)
    path.write_text("motion:\n  expression_gain: 0\n")
    with pytest.raises(ConfigError, match="expression_gain"):
        load_params(path)
    path.write_text("render: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(path)
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_overrides_deep_merge_and_train_preset_overrides(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("render:\n  camera: {yaw_deg: 10}\ntrain:\n  overrides: {max_epochs: 3, model: {d_model: 32}}\n")
    params = load_params(path, {"render": {"image_size": 128}})
    assert params.render.image_size == 128 and params.render.camera.yaw_deg == 10
    assert params.render.camera.fov_deg == 20.0  # untouched sibling keeps its default
    resolved = params.train.resolved()
    assert resolved.max_epochs == 3 and resolved.model.d_model == 32
    assert resolved.model.n_layers == 3  # the rest comes from the cpu-small preset


def test_prepare_stage_config_ignores_the_input_list():
    params = load_params()
    other = params.prepare.model_copy(update={"inputs": [], "out_dir": "elsewhere"})
    assert isinstance(params.prepare.stage_config(), PrepareConfig)
    assert params.prepare.stage_config().output_hash() == other.stage_config().output_hash()


def test_avatars_stage_manifest_points_at_the_photos_stage_output(tmp_path):
    """The `avatars` DVC stage's manifest resolves its photos into the `demo_photos` stage's output folder."""
    from flows.avatars import read_avatar_manifest

    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    photos_out = dvc["demo_photos"]["outs"][0]
    assert photos_out in dvc["avatars"]["deps"]
    jobs = read_avatar_manifest(REPO_ROOT / "examples" / "avatars_manifest.csv", default_seed=0)
    assert jobs and all(job["photo"] for job in jobs)
    for job in jobs:
        assert Path(job["photo"]).parent == (REPO_ROOT / photos_out).resolve()
