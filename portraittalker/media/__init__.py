"""The bottom layer: media tools, files, audio and video (imports nothing of the package but ``errors``).

- :mod:`~portraittalker.media.tools`: finding ffmpeg/ffprobe on PATH, and the one "tool missing" error
  (:class:`MissingToolError`) that names the tool and the package that installs it.
- :mod:`~portraittalker.media.probe`: running ffprobe for a file's stream and format facts.
- :mod:`~portraittalker.media.files`: atomic writes, our temp-file naming and stale-temp sweeping, hashing.
- :mod:`~portraittalker.media.outputs`: checks before an output is written; SIGTERM as an exception.
- :mod:`~portraittalker.media.audio`: decoding any ffmpeg-readable file to 16 kHz mono (``config``: its settings).
- :mod:`~portraittalker.media.video`: the one video decoder and the streaming MP4 writer.

Importing the package loads the stdlib-only parts; ``audio`` and ``video`` (numpy, soundfile) load when imported.
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
