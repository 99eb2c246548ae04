"""Speaker-disjoint train/val/test splits by a seeded hash of the speaker id."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from portraittalker.data.inputs import PrepareError
from portraittalker.data.tables import SPLITS


def assign_splits(speakers: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                  seed: int = 0) -> dict[str, str]:
    """Speaker -> split by a seeded hash: stable when clips are added, no speaker in two splits."""
    total = sum(fractions)
    if total <= 0 or any(f < 0 for f in fractions):
        raise PrepareError(f"split fractions must be non-negative and not all zero, got {fractions}")
    edges = np.cumsum(fractions) / total
    result = {}
    for speaker in sorted(set(speakers)):
        unit = int(hashlib.sha256(f"{seed}:{speaker}".encode()).hexdigest()[:12], 16) / float(1 << 48)
        result[speaker] = SPLITS[min(int(np.searchsorted(edges, unit, side="right")), 2)]
    return result
