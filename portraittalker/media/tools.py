"""Command-line tools the library runs (ffmpeg, ffprobe): finding them, and their error messages."""

from __future__ import annotations

import shutil

from portraittalker.errors import PortraitTalkerError

STDERR_TAIL_CHARS = 2000
# The Debian/Ubuntu package that provides a tool, where its name differs from the tool's.
DEBIAN_PACKAGES = {"ffprobe": "ffmpeg"}


class MissingToolError(PortraitTalkerError, RuntimeError):
    """A required tool is missing (ffmpeg, ffprobe; for espeak-ng's library, the subclass EspeakNotInstalledError)."""


def require_tool(name: str, debian_package: str | None = None) -> str:
    """Absolute path of command-line tool ``name`` on PATH, or :class:`MissingToolError` naming the tool and the
    package that installs it (``debian_package``; default: :data:`DEBIAN_PACKAGES`, else ``name``)."""
    found = shutil.which(name)
    if found is None:
        package = debian_package or DEBIAN_PACKAGES.get(name, name)
        raise MissingToolError(
            f"'{name}' was not found on PATH; install it (Debian/Ubuntu: `apt-get install {package}`)"
        )
    return found


def ffmpeg() -> str:
    """Path of ``ffmpeg`` (:class:`MissingToolError` if absent)."""
    return require_tool("ffmpeg")


def ffprobe() -> str:
    """Path of ``ffprobe`` (:class:`MissingToolError` if absent; it comes with the ffmpeg package)."""
    return require_tool("ffprobe")


def stderr_tail(stderr: bytes | str, limit: int = STDERR_TAIL_CHARS) -> str:
    """The end of a tool's stderr (where its actual error is), stripped, at most ``limit`` characters."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]
