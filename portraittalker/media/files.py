"""Atomic file writes, our temp-file naming, stale-temp sweeping and content hashing (stdlib only).

Every temporary file this package writes beside an output is named ``.<stem>.<pid>@<host>.<random>.tmp<suffix>``
(:func:`reserve_temp`): the writer's pid and host are in the name, so a later run into the same directory can tell
a temp file whose writer died (SIGKILL, power loss) from one that is still being written, and remove it
(:func:`sweep_stale_temps`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# A temp file whose writer cannot be checked (another host, or pid reuse) is stale after this long.
STALE_TEMP_AGE_S = 6 * 3600.0
# Temp files of the old naming (no pid in the name) are stale after this long.
LEGACY_TEMP_AGE_S = 3600.0
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_TEMP_NAME = re.compile(r"^\.(?P<stem>.*)\.(?P<pid>\d+)@(?P<host>[0-9a-f]{6})\.[a-z0-9_]{8}\.tmp(\.[^./]+)?$")
_LEGACY_TEMP_NAME = re.compile(r"^\.(?P<stem>.*)\.[a-z0-9_]{8}\.tmp\.(mp4|wav|parquet)$")  # VideoWriter, tables


def reserve_temp(directory: str | Path, stem: str, suffix: str) -> Path:
    """Create an empty temp file ``.<stem>.<pid>@<host>.<random>.tmp<suffix>`` in ``directory``."""
    fd, name = tempfile.mkstemp(prefix=f".{stem}.{os.getpid()}@{_HOST}.", suffix=f".tmp{suffix}", dir=directory)
    os.close(fd)
    return Path(name)


def reserve_temp_dir(directory: str | Path, stem: str) -> Path:
    """Create an empty temp folder ``.<stem>.<pid>@<host>.<random>.tmp`` in ``directory`` (the folder-shaped cache
    entries are built in one, then renamed into place)."""
    return Path(tempfile.mkdtemp(prefix=f".{stem}.{os.getpid()}@{_HOST}.", suffix=".tmp", dir=directory))


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = reserve_temp(target.parent, target.stem, target.suffix)
    try:
        yield tmp
        if tmp.exists():
            apply_default_mode(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sweep_stale_temps(directory: str | Path, now: float | None = None) -> list[Path]:
    """Remove our own temp files in ``directory`` left by a writer that died; return what was removed.

    A temp file is stale when its writer (pid in the name) is no longer running on this host, or — when that
    cannot be checked (another host's name, or the old naming without a pid) — when it is older than
    :data:`STALE_TEMP_AGE_S` / :data:`LEGACY_TEMP_AGE_S`. Temp folders (:func:`reserve_temp_dir`) go the same way.
    Files and folders of other names are never touched.
    """
    directory = Path(directory)
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(".") or ".tmp" not in entry.name:
            continue
        try:
            folder = entry.is_dir(follow_symlinks=False)
            if not folder and not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        match = _TEMP_NAME.match(entry.name)
        if match is not None:
            pid = int(match["pid"])
            ours = match["host"] == _HOST
            stale = (ours and pid != os.getpid() and not _pid_alive(pid)) or age > STALE_TEMP_AGE_S
        elif _LEGACY_TEMP_NAME.match(entry.name) and not folder:
            stale = age > LEGACY_TEMP_AGE_S
        else:
            continue
        if stale:
            with contextlib.suppress(OSError):
                shutil.rmtree(entry.path) if folder else os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def apply_default_mode(path: Path, folder: bool = False) -> None:
    """mkstemp makes 0600 files (mkdtemp 0700 folders); a published output gets the mode a plain open() (mkdir)
    would give it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if folder else 0o666) & ~umask)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
