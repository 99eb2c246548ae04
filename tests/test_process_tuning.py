"""Process settings (portraittalker.process_tuning): applied once, only by entry points, keeping the user's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys
from portraittalker import process_tuning as tuning
before = "numpy" in sys.modules  # importing the module must not load numpy or touch the allocator
first = tuning.tune_process_memory()
second = tuning.tune_process_memory()
import numpy as np
setter = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None) \\
    or np.core.multiarray._set_madvise_hugepage
hugepages = setter(True)  # returns the setting it replaces
big = np.ones((2048, 2048), np.float32)  # large arrays still allocate and free normally
del big
blas = tuning.use_one_blas_thread(), tuning.use_one_blas_thread()
from threadpoolctl import threadpool_info
blas_threads = sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
print(json.dumps({"numpy_at_import": before, "first": first, "second": second, "hugepages": hugepages,
                  "blas": blas, "blas_threads": blas_threads}))
"""


def _run(**env: str) -> dict:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES",
                                "NUMPY_MADVISE_HUGEPAGE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                "MKL_NUM_THREADS")}
    environment.update(env)
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env=environment)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_applies_once_and_turns_numpy_hugepages_off():
    result = _run()
    assert result["numpy_at_import"] is False
    assert result["first"] == {"malloc": True, "numpy": True}
    assert result["second"] == {"malloc": False, "numpy": False}  # once per process
    assert result["hugepages"] is False
    assert result["blas"] == [True, False] and result["blas_threads"] == [1]


def test_keeps_settings_the_user_made():
    result = _run(MALLOC_MMAP_THRESHOLD_="262144", NUMPY_MADVISE_HUGEPAGE="1", OPENBLAS_NUM_THREADS="2")
    assert result["first"] == {"malloc": False, "numpy": False}
    assert result["hugepages"] is True  # numpy's own variable decided it
    assert result["blas"] == [False, False] and result["blas_threads"] == [2]


def test_numpy_already_imported_is_switched_too():
    """SCRIPT imports numpy after tuning (the variable path); here numpy comes first (the setter path)."""
    script = SCRIPT.replace("from portraittalker import", "import numpy\nfrom portraittalker import")
    environment = {k: v for k, v in os.environ.items() if k not in ("NUMPY_MADVISE_HUGEPAGE", "OPENBLAS_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment)
    late = json.loads(out.stdout.strip().splitlines()[-1])
    assert late["first"]["numpy"] is True and late["hugepages"] is False
