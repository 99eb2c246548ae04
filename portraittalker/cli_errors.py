"""How the ``portraittalker`` commands fail: the one place that turns an exception into an ``error:`` line.

:class:`UserErrorsGroup` (the top-level ``portraittalker`` group) wraps every sub-command it runs in
:func:`user_errors`; :class:`UserErrorsCommand` does the same for a command run on its own (``python -m
portraittalker.appearance.cli``) or registered on another Typer app, and steps aside when a group already does it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from portraittalker.errors import PortraitTalkerError

console = Console(stderr=True)
EXIT_USER_ERROR = 2
# What a user can fix: our own errors, and what the OS refused (missing file, permissions, full disk: OSError
# includes FileNotFoundError). Bare ValueError/RuntimeError stay too: the library and its dependencies (pydantic,
# numpy, torch) raise them for bad input, and the commands have always reported them as one line.
USER_ERRORS: tuple[type[BaseException], ...] = (PortraitTalkerError, ValueError, RuntimeError, OSError)
# typer 0.2x vendors its own click (typer._click): its Exit (a RuntimeError, raised by --help) and usage errors are
# not click's classes, so both families must pass through untouched.
_CLICK_EXITS: tuple[type[BaseException], ...] = (
    click.exceptions.Exit, click.exceptions.Abort, click.ClickException,
    typer.Exit, typer.Abort, typer.exceptions.TyperException,
)
_ACTIVE = "portraittalker.user_errors"  # ctx.meta flag: an outer group already handles errors


def error_message(error: BaseException) -> str:
    """One line for the user: a params.yaml schema error lists ``key: problem (got value)``, not pydantic's page."""
    from pydantic import ValidationError

    cause = error.__cause__
    if isinstance(cause, ValidationError):
        source = str(error).removesuffix(str(cause)).rstrip(": ")
        problems = "; ".join(f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']} (got {item['input']!r})"
                             for item in cause.errors())
        return f"{source}: {problems}"
    return " ".join(str(error).split("\n")) if str(error) else type(error).__name__


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """A user error becomes one ``error:`` line (exit 2); SIGTERM/Ctrl-C end the command through its cleanup
    (exit 143/130); a library warning prints as one ``warning:`` line. Anything else is a bug and keeps its
    traceback; click's own exits, aborts and usage errors pass through untouched."""
    from portraittalker.media.outputs import Terminated, terminate_on_sigterm

    try:
        with terminate_on_sigterm(), _clean_warnings():
            yield
    except _CLICK_EXITS:
        raise
    except USER_ERRORS as error:
        console.print("[red]error:[/red]", escape(error_message(error)), soft_wrap=True)  # paths stay greppable
        raise typer.Exit(code=EXIT_USER_ERROR) from error
    except Terminated as signal_error:
        console.print(f"[red]error:[/red] {signal_error}; stopped, temporary files removed")
        raise typer.Exit(code=128 + signal_error.signum) from None
    except KeyboardInterrupt:
        console.print("[red]error:[/red] interrupted; stopped, temporary files removed")
        raise typer.Exit(code=130) from None


@contextlib.contextmanager
def _clean_warnings() -> Iterator[None]:
    """Warnings from this package print as ``warning: <message>`` (no category, file or source line)."""
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("portraittalker"):
            console.print("[yellow]warning:[/yellow]", escape(str(message)), soft_wrap=True)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


class UserErrorsGroup(TyperGroup):
    """The top-level group: every sub-command (nested groups included) runs inside :func:`user_errors`."""

    def invoke(self, ctx: click.Context) -> Any:
        ctx.meta[_ACTIVE] = True  # ctx.meta is shared with the sub-commands' contexts
        with user_errors():
            return super().invoke(ctx)


class UserErrorsCommand(TyperCommand):
    """A command that reports user errors itself unless a :class:`UserErrorsGroup` above it already does."""

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.meta.get(_ACTIVE):
            return super().invoke(ctx)
        with user_errors():
            return super().invoke(ctx)
