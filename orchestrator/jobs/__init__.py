"""Job operations behind the HTTP API: submit, read, cancel, answer, retry (DESIGN §3, §6).

PostgreSQL is the system of record (the ``jobs`` row); Redis holds the live state, checkpoints
and events. A job view combines both: the row for identity and history, Redis for live steps.

The names below are imported on first use (PEP 562 ``__getattr__``): a worker needs only
:class:`Actor` (``orchestrator.jobs.actor``), and importing the service, the batch path and the
views with it cost a pod started from zero about 20 ms.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.jobs.actor import Actor
    from orchestrator.jobs.service import JobService
    from orchestrator.jobs.submission import concurrency_key_of, trace_id_of
    from orchestrator.jobs.views import JobView

__all__ = ["Actor", "JobService", "JobView", "concurrency_key_of", "trace_id_of"]

_HOMES = {
    "Actor": "orchestrator.jobs.actor",
    "JobService": "orchestrator.jobs.service",
    "JobView": "orchestrator.jobs.views",
    "concurrency_key_of": "orchestrator.jobs.submission",
    "trace_id_of": "orchestrator.jobs.submission",
}


def __getattr__(name: str) -> Any:
    """The public name ``name`` from its module, imported now (PEP 562).

    Raises:
        AttributeError: ``name`` is not one of :data:`__all__`.
    """
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
