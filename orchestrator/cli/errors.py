"""One line that says what to do, instead of a traceback (``--debug`` or ``ORCH_DEBUG=1`` shows it).

Every command's failure goes through :func:`explain`: the error tree's errors (and the SDK's,
which carry the API's ``code`` and ``details``), pydantic's validation of settings, and the
connection errors of Redis and the database at start. Exit codes: 1 for a job that did not
succeed, 2 for an error (:data:`ERROR_EXIT`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
import typer

from orchestrator.errors import OrchestratorError

ERROR_EXIT = 2
"""Exit code of a command that failed (usage errors too, as click does)."""

P = ParamSpec("P")
R = TypeVar("R")


class _Debug:
    """Whether ``--debug`` was given: set once by the app's callback, read when failing."""

    enabled = os.environ.get("ORCH_DEBUG", "").lower() in ("1", "true", "yes")


DEBUG = _Debug()


def _join(items: Any, limit: int = 12) -> str:
    names = [str(i) for i in items][:limit]
    return ", ".join(names) + (", …" if len(list(items)) > limit else "")


def hint(exc: OrchestratorError) -> str:
    """What the error's ``details`` add for a person: the bad inputs, the known names."""
    details = exc.details or {}
    parts: list[str] = []
    errors = details.get("errors")
    if isinstance(errors, list) and errors:
        shown = []
        for err in errors[:8]:
            if not isinstance(err, dict):
                continue
            name = err.get("parameter") or ".".join(map(str, err.get("location") or [])) or "?"
            expects = f", expects {err['expects']}" if err.get("expects") else ""
            shown.append(f"{name} ({err.get('message') or err.get('type')}{expects})")
        parts.append("; ".join(shown))
    if isinstance(details.get("known"), list):
        parts.append(f"known: {_join(details['known']) or 'none'}")
    if details.get("setting") and str(details["setting"]) not in exc.message:
        parts.append(f"setting {details['setting']}")
    return " — ".join(parts)


def explain(exc: BaseException) -> str:
    """The one line for ``exc``: ``error [code]: message — hint``."""
    if isinstance(exc, OrchestratorError):
        extra = hint(exc)
        return f"error [{exc.code}]: {exc.message}" + (f" — {extra}" if extra else "")
    return f"error [unexpected]: {type(exc).__name__}: {exc} (run with --debug for the traceback)"


def fail(exc: BaseException) -> NoReturn:
    """Print :func:`explain`'s line on stderr and exit with :data:`ERROR_EXIT` (``--debug``:
    re-raise, so the traceback shows)."""
    if DEBUG.enabled and not isinstance(exc, OrchestratorError):
        raise exc
    typer.secho(explain(exc), fg=typer.colors.RED, err=True)
    if DEBUG.enabled:
        raise exc
    raise typer.Exit(ERROR_EXIT)


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command: any error becomes :func:`fail`'s one line (typer's exits pass)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            fail(exc)

    return wrapper


__all__ = ["DEBUG", "ERROR_EXIT", "explain", "fail", "hint", "one_line_errors"]
