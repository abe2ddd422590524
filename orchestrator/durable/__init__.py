"""Durable calls inside a step (DESIGN §13): tool and LLM calls that a retried, resumed or
re-asked step replays from their checkpoint instead of making again.

- :mod:`~orchestrator.durable.base`: the :class:`CallStore` seam and :class:`CallRecord`.
- :mod:`~orchestrator.durable.redis`: the store on Redis (``orch:state:{job}:{step}:call:{n}``).
- :mod:`~orchestrator.durable.memory`: the in-memory store (unit tests, local runs).
- :mod:`~orchestrator.durable.journal`: :class:`CallJournal`, one step attempt's calls.
"""

from orchestrator.durable.base import CallRecord, CallStore, fingerprint_of
from orchestrator.durable.journal import CallJournal, CallSlot
from orchestrator.durable.memory import MemoryCallStore
from orchestrator.durable.redis import RedisCallStore

__all__ = [
    "CallJournal",
    "CallRecord",
    "CallSlot",
    "CallStore",
    "MemoryCallStore",
    "RedisCallStore",
    "fingerprint_of",
]
