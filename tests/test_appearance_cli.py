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
