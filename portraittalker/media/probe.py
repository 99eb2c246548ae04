"""Reading stream facts with ffprobe: the one place that builds its command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from portraittalker.media.tools import ffprobe


def run_ffprobe(path: str | Path, *, timeout_s: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """ffprobe's JSON listing of the streams and format of ``path``; the caller decides what a failure means.

    :class:`~portraittalker.media.tools.MissingToolError` if ffprobe is not installed;
    ``subprocess.TimeoutExpired`` after ``timeout_s`` (None = no limit).
    """
    return subprocess.run(
        [ffprobe(), "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        timeout=timeout_s,
        check=False,
    )


def probe_json(result: subprocess.CompletedProcess[bytes]) -> dict:
    """The parsed JSON of a successful :func:`run_ffprobe` (``{}`` if ffprobe printed nothing)."""
    return json.loads(result.stdout or b"{}")
