"""Process-wide memory settings for generation: reuse freed memory instead of faulting in fresh pages.

A `generate` process allocates and frees many large numpy arrays (the designer's 1024² float canvases, the Whisper
blocks' activations, frame buffers). With glibc's defaults each allocation over its dynamic mmap threshold is a fresh
``mmap`` returned on ``free``, and numpy asks for transparent huge pages on arrays of 4 MiB and more, so every new array
is zeroed by the kernel 2 MiB at a time. Profiled with ``perf`` on these 2 cores, that page zeroing
(``clear_page_erms``) was 22 % of the process's CPU time. Keeping large blocks on the heap and leaving huge pages to
the kernel's policy removes nearly all of it. Frames are unchanged: this only changes where memory comes from.

Only entry points call :func:`tune_process_memory` (the CLI, batch workers, benches): importing the library changes
nothing. Settings the user made through glibc's or numpy's own environment variables are kept.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

# mallopt(3) parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap and are reused after free; free memory at the heap's top is kept up to
# the same size. A process therefore holds on to at most about this much memory it no longer uses.
HEAP_KEEP_BYTES = 1 << 30

_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

_tuned = False


def tune_process_memory() -> dict[str, bool]:
    """Apply the settings once per process; returns which ones took effect (``{"malloc": ..., "numpy": ...}``).

    - glibc ``mallopt``: mmap and trim thresholds of :data:`HEAP_KEEP_BYTES` (not on other C libraries, or where
      the user set ``MALLOC_*_`` / ``GLIBC_TUNABLES``).
    - numpy: no ``madvise(MADV_HUGEPAGE)`` on large arrays (unless ``NUMPY_MADVISE_HUGEPAGE`` is set).
    """
    global _tuned
    applied = {"malloc": False, "numpy": False}
    if _tuned:
        return applied
    _tuned = True
    if not any(name in os.environ for name in _USER_SETTINGS):
        applied["malloc"] = _set_malloc_thresholds(HEAP_KEEP_BYTES)
    if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
        applied["numpy"] = _disable_numpy_hugepages()
    log.debug("process memory settings applied: %s", applied)
    return applied


def _set_malloc_thresholds(size: int) -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, size)) and bool(mallopt(_M_TRIM_THRESHOLD, size))


def _disable_numpy_hugepages() -> bool:
    import sys

    if "numpy" not in sys.modules:  # numpy reads its variable on import: nothing to load now (`--help` stays quick)
        os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
        return True
    import numpy as np

    # numpy 1.x: numpy.core.multiarray; numpy 2: numpy._core.multiarray. Returns the previous setting.
    for module in ("_core", "core"):
        multiarray = getattr(getattr(np, module, None), "multiarray", None)
        setter = getattr(multiarray, "_set_madvise_hugepage", None)
        if setter is not None:
            setter(False)
            return True
    return False
