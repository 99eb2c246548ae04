"""On-disk caches of arrays derived from model files: ``$PORTRAITTALKER_CACHE/<kind>/<key>/<name>.npy``.

Used for the head's inflated arrays (``heads``) and the avatar designer's per-head geometry (``texels``,
``shape-directions``, ``paint-frames``), and for the SHA-256 of large input files (``digests``: the Whisper weights,
75 MB, took 0.09 s to hash in every process).

Each entry is a folder of ``.npy`` files, one per named array, written in a temporary folder and renamed into
place (a concurrent process sees either no entry or a whole one); a missing, truncated or unreadable entry is simply
rebuilt, and a read-only cache folder only costs the rebuild next time. Keys are hashes of everything the cached
arrays depend on, so stale entries are never read. Arrays are read back memory-mapped and read-only: no copy and no
freshly zeroed pages (reading the head's 26 MB from a ``.npz`` took 0.05 s, plus the kernel zeroing the pages it
was copied into); a process that needs to write to one copies it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from portraittalker.media.files import (
    apply_default_mode,
    file_sha256,
    reserve_temp_dir,
    sweep_stale_temps,
    write_text_atomic,
)

log = logging.getLogger(__name__)


def cache_dir(kind: str) -> Path:
    """One cache's folder (``heads``, ``texels``, ``shape-directions``).

    It lies under ``$PORTRAITTALKER_CACHE``, by default ``~/.cache/portraittalker``.
    """
    return Path(os.environ.get("PORTRAITTALKER_CACHE") or "~/.cache/portraittalker").expanduser() / kind


def load_arrays(entry: Path, names: Iterable[str] | None = None) -> dict[str, np.ndarray] | None:
    """The arrays ``names`` (None: every array) of the cache entry ``entry``, memory-mapped read-only; None when the
    entry is missing, incomplete or unreadable."""
    try:
        if names is None:
            names = sorted(unquote(path.stem) for path in entry.glob("*.npy"))
            if not names:
                return None
        return {name: _read_array(_array_path(entry, name)) for name in names}
    except (OSError, ValueError, EOFError):  # missing, unreadable, truncated
        return None


def _array_path(entry: Path, name: str) -> Path:
    return entry / f"{quote(name, safe='')}.npy"  # names may hold '/' (Whisper's variables)


def _read_array(path: Path) -> np.ndarray:
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:  # an empty array has nothing to map
        mapped = np.load(path, allow_pickle=False)
        mapped.flags.writeable = False
    return mapped.view(np.ndarray)  # the plain array type, still backed by the mapping


def store_arrays(entry: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as the cache entry ``entry``: into a temporary folder beside it, renamed into place whole.
    A readable entry another process wrote meanwhile is kept, an unreadable one replaced; a failure is logged, not
    raised (the cache is an optimisation)."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(entry.parent)  # folders of writers that were killed
        staging = reserve_temp_dir(entry.parent, entry.name)
        apply_default_mode(staging, folder=True)  # mkdtemp makes 0700; a shared cache stays readable
    except OSError as error:
        log.warning("could not store the cache entry %s: %s", entry, error)
        return
    broken = staging.with_name(f"{staging.name}.broken")
    try:
        for name, values in arrays.items():
            np.save(_array_path(staging, name), np.asarray(values), allow_pickle=False)
        try:
            os.rename(staging, entry)  # fails if the entry exists
        except OSError:
            if not entry.is_dir() or load_arrays(entry, arrays) is not None:
                raise  # not an entry, or another writer's whole one: that stays
            os.rename(entry, broken)  # an unreadable entry is replaced
            os.rename(staging, entry)
    except OSError as error:
        if load_arrays(entry, arrays) is None:
            log.warning("could not store the cache entry %s: %s", entry, error)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(broken, ignore_errors=True)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, computed once per (path, inode, size, modification time): kept in the process and
    on disk (``digests``), as DVC keeps its file hashes. A rewritten file changes its size or modification time."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _file_digest(str(resolved), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _file_digest(path: str, inode: int, size: int, mtime_ns: int) -> str:
    key = hashlib.sha256(f"{path}\0{inode}\0{size}\0{mtime_ns}".encode()).hexdigest()[:32]
    entry = cache_dir("digests") / f"{key}.txt"
    try:
        stored = entry.read_text().strip()
        if len(stored) == 64 and all(c in "0123456789abcdef" for c in stored):
            return stored
    except OSError:
        pass
    digest = file_sha256(path)
    try:
        write_text_atomic(entry, digest + "\n")
    except OSError as error:
        log.warning("could not store the cache file %s: %s", entry, error)
    return digest
