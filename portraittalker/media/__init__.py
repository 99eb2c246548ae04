"""The bottom layer: external media tools and files (stdlib only; imports nothing of the package but ``errors``).

- :mod:`~portraittalker.media.tools`: finding ffmpeg/ffprobe on PATH, and the one "tool missing" error
  (:class:`MissingToolError`) that names the tool and the package that installs it.
- :mod:`~portraittalker.media.probe`: running ffprobe for a file's stream and format facts.
- :mod:`~portraittalker.media.files`: atomic writes, our temp-file naming and stale-temp sweeping, hashing.

Decoding and encoding (``portraittalker.audio``, ``portraittalker.video``) build on these.
"""

from portraittalker.media.files import atomic_path, file_sha256, reserve_temp, write_bytes_atomic, write_text_atomic
from portraittalker.media.probe import probe_json, run_ffprobe
from portraittalker.media.tools import MissingToolError, ffmpeg, ffprobe, require_tool, stderr_tail

__all__ = [
    "MissingToolError",
    "atomic_path",
    "ffmpeg",
    "ffprobe",
    "file_sha256",
    "probe_json",
    "require_tool",
    "reserve_temp",
    "run_ffprobe",
    "stderr_tail",
    "write_bytes_atomic",
    "write_text_atomic",
]
