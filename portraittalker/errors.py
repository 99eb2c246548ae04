"""The root of every exception this library raises on purpose (stdlib only, so any module can import it).

Each library error derives from :class:`PortraitTalkerError` *and* keeps its builtin base (``ValueError``,
``RuntimeError``, ``FileNotFoundError`` ...), so ``except ValueError`` callers keep working while a caller that
wants "anything PortraitTalker refused" — the CLI, a batch runner — can catch one class.

Not rooted here: warnings (they are not raised), :class:`portraittalker.media.outputs.Terminated` (a signal, a
``BaseException`` like ``KeyboardInterrupt``: ``except Exception`` must not swallow it) and the espeak worker's
private error (that script runs alone in a subprocess and imports nothing of the package).
"""

from __future__ import annotations


class PortraitTalkerError(Exception):
    """Base class of the library's errors; the message says what was refused and why."""
