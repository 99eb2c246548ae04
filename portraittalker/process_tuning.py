"""Process-wide settings for generation: reuse freed memory, and one BLAS thread beside generate's own threads.

Memory: a `generate` process allocates and frees many large numpy arrays (the designer's 1024² float canvases, the
Whisper blocks' activations, frame buffers). With glibc's defaults each allocation over its dynamic mmap threshold
is a fresh ``mmap`` returned on ``free``, and numpy asks for transparent huge pages on arrays of 4 MiB and more, so
every new array is zeroed by the kernel 2 MiB at a time. Profiled with ``perf`` on these 2 cores, that page zeroing
(``clear_page_erms``) was 22 % of the process's CPU time. Keeping large blocks on the heap and leaving huge pages to
the kernel's policy removes nearly all of it (:func:`tune_process_memory`, for every command).

BLAS threads: generate already runs the motion, deformation, encoding and llvmpipe threads beside its main thread.
OpenBLAS's own worker threads spin in ``sched_yield`` after each call (4 % of the process's samples), taking cores
from llvmpipe and x264; with one BLAS thread the process used ~9 % less CPU (:func:`use_one_blas_thread`, for the
commands that generate video).

Only entry points call these (the CLI, batch workers, benches): importing the library changes nothing. Settings the
user made through glibc's, numpy's or OpenBLAS's own environment variables are kept. Frames are unchanged.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

# mallopt(3) parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap and are reused after free; free memory at the heap's top is kept up to
# the same size. A process therefore holds on to at most about this much memory it no longer uses.
HEAP_KEEP_BYTES = 1 << 30

_MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
_BLAS_SETTINGS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

_done: set[str] = set()


def tune_process_memory() -> dict[str, bool]:
    """Apply the memory settings once per process; returns which took effect (``{"malloc": ..., "numpy": ...}``).

    - glibc ``mallopt``: mmap and trim thresholds of :data:`HEAP_KEEP_BYTES` (not on other C libraries, or where
      the user set ``MALLOC_*_`` / ``GLIBC_TUNABLES``).
    - numpy: no ``madvise(MADV_HUGEPAGE)`` on large arrays (unless ``NUMPY_MADVISE_HUGEPAGE`` is set).
    """
    applied = {"malloc": False, "numpy": False}
    if "memory" in _done:
        return applied
    _done.add("memory")
    if not any(name in os.environ for name in _MALLOC_SETTINGS):
        applied["malloc"] = _set_malloc_thresholds(HEAP_KEEP_BYTES)
    if "NUMPY_MADVISE_HUGEPAGE" not in os.environ:
        applied["numpy"] = _disable_numpy_hugepages()
    log.debug("process memory settings applied: %s", applied)
    return applied


def use_one_blas_thread() -> bool:
    """Limit the BLAS libraries numpy and scipy loaded to one thread (not torch's); False where the user set
    ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` or it was done already."""
    if "blas" in _done or any(name in os.environ for name in _BLAS_SETTINGS):
        return False
    _done.add("blas")
    import numpy  # noqa: F401  (loads the BLAS library that threadpoolctl then finds)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    return True


def _set_malloc_thresholds(size: int) -> bool:
    try:  # the process's own symbols: the C library it runs on (find_library("c") would spawn `ldconfig -p`)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, size)) and bool(mallopt(_M_TRIM_THRESHOLD, size))


def _disable_numpy_hugepages() -> bool:
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
