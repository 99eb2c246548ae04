"""Process memory settings (portraittalker.memory): applied once, only by entry points, respecting the user's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys
from portraittalker import memory
before = "numpy" in sys.modules  # importing the module must not load numpy or touch the allocator
first = memory.tune_process_memory()
second = memory.tune_process_memory()
import numpy as np
setter = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None) \\
    or np.core.multiarray._set_madvise_hugepage
hugepages = setter(True)  # returns the setting it replaces
big = np.ones((2048, 2048), np.float32)  # large arrays still allocate and free normally
del big
print(json.dumps({"numpy_at_import": before, "first": first, "second": second, "hugepages": hugepages}))
"""


def _run(**env: str) -> dict:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES",
                                "NUMPY_MADVISE_HUGEPAGE")}
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


def test_keeps_settings_the_user_made():
    result = _run(MALLOC_MMAP_THRESHOLD_="262144", NUMPY_MADVISE_HUGEPAGE="1")
    assert result["first"] == {"malloc": False, "numpy": False}
    assert result["hugepages"] is True  # numpy's own variable decided it


def test_numpy_already_imported_is_switched_too():
    """SCRIPT imports numpy after tuning (the variable path); here numpy comes first (the setter path)."""
    script = SCRIPT.replace("from portraittalker import memory", "import numpy\nfrom portraittalker import memory")
    environment = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment)
    late = json.loads(out.stdout.strip().splitlines()[-1])
    assert late["first"]["numpy"] is True and late["hugepages"] is False
