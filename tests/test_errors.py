"""Issue 11: one error root (PortraitTalkerError), one place that reports it on the CLI, one "tool missing" error."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import one_error_line
from typer.testing import CliRunner

import portraittalker
from portraittalker.cli import app
from portraittalker.errors import PortraitTalkerError
from portraittalker.media.outputs import Terminated
from portraittalker.media.tools import MissingToolError, require_tool

runner = CliRunner()
# Deliberately outside the root: a signal (like KeyboardInterrupt, `except Exception` must not catch it), and the
# espeak worker's private error (that script runs alone in a subprocess and imports nothing of the package).
NOT_ROOTED = {"portraittalker.media.outputs.Terminated", "portraittalker.speech._espeak_worker.WorkerError"}


def _library_exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class (warnings aside) defined in a module of the portraittalker package."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(portraittalker.__path__, "portraittalker."):
        try:
            module = importlib.import_module(module_info.name)
        except ModuleNotFoundError as error:  # an optional third-party dependency is not installed here
            if (error.name or "").startswith("portraittalker"):
                raise
            continue
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, BaseException) and not issubclass(obj, Warning)
                    and obj.__module__ == module.__name__):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_library_exception_derives_from_the_root() -> None:
    classes = _library_exception_classes()
    assert len(classes) > 40, sorted(classes)  # the scan did reach the package's modules
    assert NOT_ROOTED.issubset(classes)  # the exclusions still exist (else drop them)
    unrooted = sorted(name for name, cls in classes.items()
                      if name not in NOT_ROOTED and not issubclass(cls, PortraitTalkerError))
    assert unrooted == []
    assert not issubclass(Terminated, Exception)


def test_rooted_errors_keep_their_builtin_bases() -> None:
    from portraittalker.media.audio import AudioError, AudioFileNotFound
    from portraittalker.media.outputs import OutputPathError
    from portraittalker.media.video import VideoError

    assert issubclass(AudioError, ValueError) and issubclass(AudioFileNotFound, FileNotFoundError)
    assert issubclass(OutputPathError, ValueError) and issubclass(VideoError, RuntimeError)
    assert issubclass(MissingToolError, RuntimeError)



def test_cli_reports_a_library_error_as_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["animate", "--audio", str(tmp_path / "speech.wav"), "--out", str(tmp_path / "m.txt")])
    one_error_line(result, "--out", ".parquet")


def test_cli_reports_a_missing_input_file_as_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.wav"
    result = runner.invoke(app, ["animate", "--audio", str(missing), "--out", str(tmp_path / "m.parquet"),
                                 "--motion", "baseline"])
    one_error_line(result, "not found", str(missing))


def test_cli_reports_an_os_error_from_outside_the_library_as_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "no_such_cut"  # pandas opens <folder>/cut_manifest.csv: the OS's FileNotFoundError
    result = runner.invoke(app, ["prepare", "--source", "hdtf", "--input", str(folder), "--out", str(tmp_path / "d")])
    one_error_line(result, "cut_manifest.csv")


def test_cli_reports_a_bare_root_error_and_keeps_tracebacks_for_bugs(tmp_path: Path, monkeypatch) -> None:
    import portraittalker.config as config

    def refuse(*_args, **_kwargs):
        raise PortraitTalkerError("refused for a reason\nthat spans two lines")

    monkeypatch.setattr(config, "load_params", refuse)
    result = runner.invoke(app, ["synth-corpus", "--out", str(tmp_path / "c")])
    one_error_line(result, "refused for a reason that spans two lines")

    def bug(*_args, **_kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(config, "load_params", bug)
    result = runner.invoke(app, ["synth-corpus", "--out", str(tmp_path / "c")])
    assert result.exit_code == 1 and isinstance(result.exception, TypeError)  # not dressed up as a user error


def test_cli_usage_errors_stay_clicks(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--audio", "a.wav", "--out", str(tmp_path / "o.mp4")])
    assert result.exit_code == 2 and "exactly one of --prompt" in result.output


@pytest.mark.parametrize(("tool", "package"), [("ffmpeg", "ffmpeg"), ("ffprobe", "ffmpeg"),
                                               ("espeak-ng", "espeak-ng")])
def test_missing_tool_names_the_tool_and_how_to_install_it(tmp_path: Path, monkeypatch, tool, package) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty_bin"))
    with pytest.raises(MissingToolError) as error:
        require_tool(tool)
    assert f"'{tool}' was not found on PATH" in str(error.value)
    assert f"apt-get install {package}" in str(error.value)


def test_every_caller_raises_the_one_missing_tool_error(tmp_path: Path, monkeypatch) -> None:
    import portraittalker.data.quality as quality
    import portraittalker.media.audio as audio
    from portraittalker.media import tools

    assert audio.MissingToolError is quality.MissingToolError is MissingToolError
    media_file = tmp_path / "clip.mp4"
    media_file.write_bytes(b"not empty")
    monkeypatch.setattr(tools.shutil, "which", lambda _name: None)
    with pytest.raises(MissingToolError, match=r"'ffprobe' was not found.*apt-get install ffmpeg"):
        quality.probe_media(media_file)
    with pytest.raises(MissingToolError, match=r"'ffprobe' was not found.*apt-get install ffmpeg"):
        audio.load_audio(media_file)
    result = runner.invoke(app, ["animate", "--audio", str(media_file), "--out", str(tmp_path / "m.parquet"),
                                 "--motion", "baseline"])
    one_error_line(result, "'ffprobe' was not found on PATH", "apt-get install ffmpeg")


def test_help_of_every_command_exits_0_without_an_error_line():
    """--help raises typer's own Exit (typer vendors click); the error handler must let it through."""
    from typer.main import get_command

    names = [[]]
    for name, command in get_command(app).commands.items():
        names.append([name])
        names.extend([name, sub] for sub in getattr(command, "commands", {}))  # nested groups (hdtf, assets)
    runner = CliRunner()
    for path in names:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "error:" not in result.output, (path, result.output)


def test_console_entry_point_keeps_exit_codes_and_output(tmp_path: Path) -> None:
    """cli.main ends a successful run with os._exit: its output must still be flushed, and failures keep their code."""
    command = [sys.executable, "-m", "portraittalker.cli"]
    ok = subprocess.run([*command, "generate", "--help"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "--audio" in ok.stdout
    usage = subprocess.run([*command, "generate", "--audio", "a.wav", "--out", str(tmp_path / "o.mp4")],
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "exactly one of --prompt" in usage.stderr
