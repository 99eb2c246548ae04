"""On-disk caches of arrays derived from a head model's file: ``$PORTRAITTALKER_CACHE/<kind>/<key>.npz``.

Used for the head's inflated arrays (``heads``) and the avatar designer's per-head geometry (``texels``,
``shape-directions``, ``paint-frames``).

Each entry is one ``.npz`` of named arrays, written atomically (a concurrent process reads either nothing or a
whole file); a missing, truncated or unreadable entry is simply rebuilt, and a read-only cache folder only costs
the rebuild next time. Keys are hashes of everything the cached arrays depend on, so stale entries are never read.
"""

from __future__ import annotations

import functools
import logging
import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from portraittalker.media.files import atomic_path, file_sha256

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
    """SHA-256 of a file's bytes, computed once per (path, size, modification time) in a process."""
    stat = Path(path).stat()
    return _file_digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _file_digest(path: str, _size: int, _mtime_ns: int) -> str:
    return file_sha256(path)
