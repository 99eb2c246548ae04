"""On-disk caches of arrays derived from a head model's file: ``$PORTRAITTALKER_CACHE/<kind>/<key>.npz``.

Used for the head's inflated arrays (``heads``) and the avatar designer's per-head geometry (``texels``,
``shape-directions``, ``paint-frames``), and for the SHA-256 of large input files (``digests``: the Whisper weights,
75 MB, took 0.09 s to hash in every process).

Each entry is one ``.npz`` of named arrays, written atomically (a concurrent process reads either nothing or a
whole file); a missing, truncated or unreadable entry is simply rebuilt, and a read-only cache folder only costs
the rebuild next time. Keys are hashes of everything the cached arrays depend on, so stale entries are never read.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from portraittalker.media.files import atomic_path, file_sha256, write_text_atomic

log = logging.getLogger(__name__)


def cache_dir(kind: str) -> Path:
    """One cache's folder (``heads``, ``texels``, ``shape-directions``).

    It lies under ``$PORTRAITTALKER_CACHE``, by default ``~/.cache/portraittalker``.
    """
    return Path(os.environ.get("PORTRAITTALKER_CACHE") or "~/.cache/portraittalker").expanduser() / kind


def load_arrays(path: Path, names: Iterable[str]) -> dict[str, np.ndarray] | None:
    """The stored arrays ``names`` of ``path``, or None when the entry is missing or unreadable."""
    try:
        with np.load(path) as stored:
            return {name: stored[name] for name in names}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):  # missing, unreadable, truncated
        return None


def store_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically; a failure is logged, not raised (the cache is an optimisation)."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError as error:
        log.warning("could not store the cache file %s: %s", path, error)


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
