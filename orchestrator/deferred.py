"""Optional third-party imports kept off a process's start (a one-job worker's cold start).

- :func:`defer`: a module imported on its first use rather than by whoever imports it first.
- :func:`import_without`: a module imported as if an optional dependency of it were missing.

redis-py imports PyJWT at import time (``redis.auth.token``, for its Entra ID token auth), and
PyJWT imports ``cryptography``: ~50-90 ms of every worker's start (``python -X importtime -c
'import worker.runner'``) for code a worker on a password or no-auth Redis never runs.
:func:`defer` puts a stand-in module in :data:`sys.modules`; ``import jwt`` then binds the
stand-in, and the real module is imported when an attribute of it is first read (``jwt.decode``,
``from jwt import PyJWTError``, ``import jwt.exceptions``), from then on served by the real one.
``importlib.util.LazyLoader`` does not do this: the import system reads ``__spec__`` of a
module already in :data:`sys.modules` on every later ``import`` of it, which loads it.

structlog imports rich, when installed (typer installs it), for its console renderer's
exception formatting and its dict tracebacks' locals: ~65-125 ms. Neither runs here: the
exception is already text when a renderer sees it (``format_exc_info`` comes first in
:func:`orchestrator.logs.configure_logging`), and dict tracebacks are not used. So structlog is
imported with rich unimportable (its documented fallback), and rich stays importable for others.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_lock = threading.Lock()


class _Deferred(types.ModuleType):
    """Stands for a module not imported yet; its first attribute read imports it."""

    def __getattr__(self, attr: str) -> Any:  # only for attributes the stand-in lacks
        real = _load(self)
        # Whoever bound the stand-in (``import jwt`` before first use) reads it directly from
        # now on: a copy of the real module's names, which PyJWT does not rebind.
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def _load(stand_in: _Deferred) -> types.ModuleType:
    name = stand_in.__name__
    with _lock:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return importlib.import_module(name)


def defer(name: str) -> None:
    """Have the top-level module ``name`` imported on first use (no-op when it is imported
    already, or not installed: then ``import name`` fails as it would have).

    Args:
        name: A top-level module name, e.g. ``"jwt"``.
    """
    if name in sys.modules or "." in name:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stand_in = _Deferred(name)
    stand_in.__spec__ = spec  # what a later ``import name`` checks, without loading
    sys.modules[name] = stand_in


def import_without(name: str, missing: str) -> None:
    """Import ``name`` with the top-level module ``missing`` unimportable meanwhile (no-op when
    either is imported already).

    Args:
        name: The module to import, e.g. ``"structlog"``.
        missing: The optional dependency it should do without, e.g. ``"rich"``.

    Raises:
        ImportError: ``name`` itself cannot be imported.
    """
    if name in sys.modules or missing in sys.modules:
        return
    sys.modules[missing] = None  # type: ignore[assignment]  # "import missing" raises
    try:
        importlib.import_module(name)
    finally:
        if missing in sys.modules and sys.modules[missing] is None:
            del sys.modules[missing]


__all__ = ["defer", "import_without"]
