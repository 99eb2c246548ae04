"""The default DVC remote of .dvc/config: push from a temporary repository, pull into a git clone of it."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portraittalker.assets import REPO_ROOT

DVC = str(Path(sys.executable).parent / "dvc")


def _remote_config() -> tuple[str, str]:
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / ".dvc" / "config")
    name = config["core"]["remote"]
    return name, config[f"'remote \"{name}\"'"]["url"]


def test_default_remote_is_outside_the_repository():
    _, url = _remote_config()
    path = Path(os.path.expanduser(url))
    assert path.is_absolute() and REPO_ROOT not in path.parents and path != REPO_ROOT, url


@pytest.mark.slow
def test_push_and_pull_through_the_default_remote(tmp_path):
    home = tmp_path / "home"  # `~` of the remote URL: the test's own folder, not the user's cache
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "PATH": f"{Path(sys.executable).parent}:"
           f"{os.environ['PATH']}"}

    def run(*args: str, cwd: Path) -> str:
        done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    origin = tmp_path / "origin"
    origin.mkdir()
    run("git", "init", "-q", cwd=origin)
    run(DVC, "init", "-q", cwd=origin)
    shutil.copy(REPO_ROOT / ".dvc" / "config", origin / ".dvc" / "config")  # the repository's remote settings
    name, url = _remote_config()
    assert name in run(DVC, "remote", "list", cwd=origin)
    (origin / "make_data.py").write_text(
        "from pathlib import Path\nPath('data').mkdir(exist_ok=True)\n"
        "Path('data/table.csv').write_text('a,b\\n1,2\\n')\nPath('data/blob.bin').write_bytes(bytes(range(256)))\n")
    run(DVC, "stage", "add", "-q", "-n", "make", "-d", "make_data.py", "-o", "data", f"{sys.executable} make_data.py",
        cwd=origin)
    run(DVC, "repro", "-q", cwd=origin)
    run("git", "add", ".", cwd=origin)
    run("git", "commit", "-q", "-m", "tiny stage", cwd=origin)
    run(DVC, "push", cwd=origin)
    remote = Path(os.path.expanduser(url.replace("~", str(home), 1)))
    assert remote.is_dir() and sum(1 for p in remote.rglob("*") if p.is_file()) >= 2

    clone = tmp_path / "clone"
    run("git", "clone", "-q", str(origin), str(clone), cwd=tmp_path)
    assert not (clone / "data").exists()
    run(DVC, "pull", cwd=clone)
    assert (clone / "data" / "table.csv").read_text() == "a,b\n1,2\n"
    assert (clone / "data" / "blob.bin").read_bytes() == bytes(range(256))
