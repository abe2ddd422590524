"""The seam to sessions (DESIGN §18, another module's work): does a session exist?

``POST /v1/agent/execute`` accepts a ``session_id`` only when this says the session exists in
the caller's tenant. Until the sessions module is installed it answers ``False`` (an unknown
``session_id`` is ``404 session_not_found``). The sessions module plugs in by registering its
lookup with :func:`set_session_lookup` at import time (or replacing this function at merge).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

SessionLookup = Callable[[Any, str | None, str], Awaitable[bool]]
"""``(services, tenant_id, session_id) -> exists``."""

_lookup: list[SessionLookup] = []


def set_session_lookup(lookup: SessionLookup | None) -> None:
    """Install (or, with ``None``, remove) the sessions module's lookup."""
    _lookup.clear()
    if lookup is not None:
        _lookup.append(lookup)


async def session_exists(services: Any, tenant_id: str | None, session_id: str) -> bool:
    """Whether ``session_id`` is a session of ``tenant_id`` (``False`` without sessions)."""
    if not _lookup:
        return False
    return await _lookup[0](services, tenant_id, session_id)


__all__ = ["SessionLookup", "session_exists", "set_session_lookup"]
