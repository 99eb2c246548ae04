"""Checks before an output is written, and SIGTERM turned into an exception so temp-file cleanup runs.

Atomic writes, the temp-file naming, stale-temp sweeping and hashing are :mod:`portraittalker.media.files`'.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from portraittalker.errors import PortraitTalkerError
from portraittalker.media.files import reserve_temp, sweep_stale_temps


class OutputPathError(PortraitTalkerError, ValueError):
    """An output path cannot (or must not) be written: the message names it and says why."""


class Terminated(BaseException):  # a signal, like KeyboardInterrupt, not an error
    """SIGTERM arrived; raised in the main thread so that ``finally`` blocks remove temporary files."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


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
