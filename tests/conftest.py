"""Shared fixtures: the embedded head model, ../shared data, isolated Prefect/MLflow state."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from portraittalker.assets import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared"
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"test data folder {SHARED} is missing: tests need ../shared beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def ict_head():
    from portraittalker.head import load_head_model

    return load_head_model("ict-facekit")


@pytest.fixture(scope="session")
def real_clips(shared_dir: Path) -> list[Path]:
    return sorted((shared_dir / "data" / "real_clips").glob("*.mp4"))


@pytest.fixture(scope="session")
def speech_wav(shared_dir: Path) -> Path:
    return shared_dir / "data" / "speech" / "RD_Radio31_000.wav"


def speech_excerpt(source: Path, out: Path, start_s: float, duration_s: float) -> Path:
    """``duration_s`` seconds of ``source`` from ``start_s``, as a WAV file (ffmpeg)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(start_s), "-t", str(duration_s), "-i", str(source),
                    str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def one_second(speech_wav: Path, tmp_path_factory) -> Path:
    """One second of real speech (from 1.0 s of ``speech_wav``)."""
    return speech_excerpt(speech_wav, tmp_path_factory.mktemp("speech") / "one_second.wav", 1.0, 1.0)


def one_error_line(result, *needles: str) -> str:
    """A CLI result that failed with exactly one ``error:`` line (exit 2) containing every needle; that line."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


class MaliciousPickle:
    """Pickles to ``os.system(...)``: what a malicious "weights" file does on a plain ``torch.load``."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    """An empty torch hub cache and a download function that fails the test if anything tries it."""
    import torch

    def refuse(url, *args, **kwargs):
        raise AssertionError(f"download attempted: {url}")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return tmp_path / "torch_home"
