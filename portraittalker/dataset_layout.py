"""File names of a prepared dataset directory: the part of :mod:`portraittalker.data.tables`' contract that the
readers (``portraittalker.motion``, ``eval``) need.

A module of its own, below both packages, so ``data`` (which builds datasets in the motion schema and so
imports ``motion``) and ``motion`` (which reads them) share it without importing each other.
"""

from __future__ import annotations

CLIPS_FILE = "clips.parquet"
FRAMES_FILE = "frames.parquet"
TRUTH_FILE = "truth.parquet"
DATASET_METADATA_KEY = b"portraittalker.dataset"  # parquet key-value metadata: DatasetMeta JSON
