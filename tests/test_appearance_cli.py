"""`portraittalker avatar`: option checks and clear errors (the optimisation itself is tested elsewhere)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from portraittalker.appearance.cli import register


def make_app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps `avatar` a named sub-command
        """Nothing."""

    return app


def test_avatar_needs_exactly_one_of_prompt_or_photo(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(make_app(), ["avatar", "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "exactly one of --prompt" in result.output
    result = runner.invoke(make_app(), ["avatar", "--out", str(tmp_path / "a"), "--prompt", "x", "--photo", "y.png"])
    assert result.exit_code == 2


def test_avatar_from_a_prompt_without_weights_names_what_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(make_app(), ["avatar", "--out", str(tmp_path / "a"), "--prompt", "an old man",
                                             "--sd-model", str(tmp_path / "no-sd")])
    assert result.exit_code == 2
    assert "Stable Diffusion folder not found" in result.output and "huggingface" in result.output
    assert not (tmp_path / "a").exists()


def test_avatar_from_a_missing_photo_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(make_app(), ["avatar", "--out", str(tmp_path / "a"), "--photo",
                                             str(tmp_path / "me.jpg")])
    assert result.exit_code == 2 and "photo not found" in result.output


def test_export_glb_and_arkit_csv_from_the_command_line(ict_head, tmp_path: Path) -> None:
    import numpy as np

    from portraittalker.appearance.export import read_arkit_csv, read_glb
    from portraittalker.avatar.asset import Avatar
    from portraittalker.motion.schema import MotionTable
    from portraittalker.render.scene import Background, Lighting, Material

    Avatar(identity=np.zeros(ict_head.n_identity, np.float32), material=Material(albedo=np.full((32, 32, 3), 150,
           np.uint8)), lighting=Lighting(), background=Background(), head_model=ict_head.name).save(tmp_path / "av")
    motion = MotionTable.zeros(3, ict_head).save(tmp_path / "m.parquet")
    runner = CliRunner()
    result = runner.invoke(make_app(), ["export", "--avatar", str(tmp_path / "av"), "--motion", str(motion),
                                        "--out", str(tmp_path / "t.glb")])
    assert result.exit_code == 0, result.output
    gltf, _ = read_glb(tmp_path / "t.glb")
    assert gltf["animations"][0]["channels"]
    result = runner.invoke(make_app(), ["export", "--avatar", str(tmp_path / "av"), "--motion", str(motion),
                                        "--out", str(tmp_path / "t.csv"), "--format", "arkit-csv"])
    assert result.exit_code == 0, result.output
    assert read_arkit_csv(tmp_path / "t.csv")[1].shape == (3, 61)
    result = runner.invoke(make_app(), ["export", "--avatar", str(tmp_path / "av"), "--out", str(tmp_path / "x.csv"),
                                        "--format", "arkit-csv"])
    assert result.exit_code == 2 and "needs --motion" in result.output
