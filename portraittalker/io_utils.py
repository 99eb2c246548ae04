"""Atomic file writes, output-path checks, stale-temp sweeping, SIGTERM cleanup and content hashing.

Every temporary file this package writes beside an output is named ``.<stem>.<pid>@<host>.<random>.tmp<suffix>``
(:func:`reserve_temp`): the writer's pid and host are in the name, so a later run into the same directory can tell
a temp file whose writer died (SIGKILL, power loss) from one that is still being written, and remove it
(:func:`sweep_stale_temps`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from portraittalker.errors import PortraitTalkerError

# A temp file whose writer cannot be checked (another host, or pid reuse) is stale after this long.
STALE_TEMP_AGE_S = 6 * 3600.0
# Temp files of the old naming (no pid in the name) are stale after this long.
LEGACY_TEMP_AGE_S = 3600.0
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_TEMP_NAME = re.compile(r"^\.(?P<stem>.*)\.(?P<pid>\d+)@(?P<host>[0-9a-f]{6})\.[a-z0-9_]{8}\.tmp(\.[^./]+)?$")
_LEGACY_TEMP_NAME = re.compile(r"^\.(?P<stem>.*)\.[a-z0-9_]{8}\.tmp\.(mp4|wav|parquet)$")  # VideoWriter, tables


class OutputPathError(PortraitTalkerError, ValueError):
    """An output path cannot (or must not) be written: the message names it and says why."""


class Terminated(BaseException):  # a signal, like KeyboardInterrupt, not an error
    """SIGTERM arrived; raised in the main thread so that ``finally`` blocks remove temporary files."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def reserve_temp(directory: str | Path, stem: str, suffix: str) -> Path:
    """Create an empty temp file ``.<stem>.<pid>@<host>.<random>.tmp<suffix>`` in ``directory``."""
    fd, name = tempfile.mkstemp(prefix=f".{stem}.{os.getpid()}@{_HOST}.", suffix=f".tmp{suffix}", dir=directory)
    os.close(fd)
    return Path(name)


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
    :data:`STALE_TEMP_AGE_S` / :data:`LEGACY_TEMP_AGE_S`. Files of other names are never touched.
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
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        match = _TEMP_NAME.match(entry.name)
        if match is not None:
            pid = int(match["pid"])
            ours = match["host"] == _HOST
            stale = (ours and pid != os.getpid() and not _pid_alive(pid)) or age > STALE_TEMP_AGE_S
        elif _LEGACY_TEMP_NAME.match(entry.name):
            stale = age > LEGACY_TEMP_AGE_S
        else:
            continue
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` in the main thread while the block runs (else a no-op).

    The default SIGTERM action kills the process on the spot, skipping every ``finally`` and ``__exit__``: the
    hidden temp files of a half-written video would stay behind. As an exception, the usual cleanup runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_output_path(
    path: str | Path,
    *,
    option: str,
    suffixes: Iterable[str],
    kind: str,
    inputs: Iterable[str | Path | None] = (),
    is_previous_output: Callable[[Path], bool] | None = None,
    force: bool = False,
    remedy: str = "pass --force to replace it",
) -> Path:
    """Check before any work that ``path`` can and may be written; :class:`OutputPathError` naming it if not.

    Refused: a wrong extension; an existing directory; the same file as one of ``inputs`` (symlinks and hard links
    included); an existing file that ``is_previous_output`` does not recognise as an earlier output of this kind
    (unless ``force``); a destination folder that cannot be created or written. Stale temp files of ours in the
    folder are swept. Returns ``path`` as given (a symlink at ``path`` is replaced, not followed).
    """
    path = Path(path)
    allowed = tuple(s.lower() for s in suffixes)
    _check_not_symlink_loop(path, option)
    if path.is_dir():
        example = path / f"out{allowed[0]}"
        raise OutputPathError(f"{option} {path}: is a directory; give a file name such as {example}")
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise OutputPathError(f"{option} {path}: is the input file {source}; writing it would destroy the input")
    if path.suffix.lower() not in allowed:
        wanted = " or ".join(allowed)
        raise OutputPathError(f"{option} {path}: {kind} must be written to a {wanted} file")
    if path.exists() and not force:
        if not path.is_file():
            raise OutputPathError(f"{option} {path}: exists and is not a regular file")
        if is_previous_output is None or not is_previous_output(path):
            raise OutputPathError(f"{option} {path}: exists and is not a {kind} written by portraittalker; {remedy}")
    check_writable_dir(path.parent, f"{option} {path}")
    sweep_stale_temps(path.parent)
    return path


def check_writable_dir(directory: str | Path, what: str) -> Path:
    """Create ``directory`` if needed and prove a file can be created in it; :class:`OutputPathError` if not."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = reserve_temp(directory, "write-check", "")
        probe.unlink()
    except FileExistsError as error:
        raise OutputPathError(f"{what}: cannot create folder {directory}: a file of that name exists") from error
    except NotADirectoryError as error:
        raise OutputPathError(f"{what}: cannot create folder {directory}: a parent is a file, not a folder") from error
    except OSError as error:
        raise OutputPathError(f"{what}: folder {directory} is not writable ({error.strerror or error})") from error
    return directory


def _check_not_symlink_loop(path: Path, option: str) -> None:
    if not path.is_symlink():
        return
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OutputPathError(f"{option} {path}: is a symlink loop") from error


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they point
        try:
            return a.resolve() == b.resolve()
        except (OSError, RuntimeError):
            return False


def apply_default_mode(path: Path) -> None:
    """mkstemp makes 0600 files; a published output gets the mode a plain open() would give it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


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
