"""A transport for the Elastic APM agent that keeps events in memory (no APM Server needed).

Select it with ``ELASTIC_APM_TRANSPORT_CLASS=tests.support.elastic.CapturingTransport``.
"""

from __future__ import annotations

from typing import Any

from elasticapm.transport.base import Transport

EVENTS: list[tuple[str, dict[str, Any]]] = []
"""``(event type, event)`` pairs the agent queued: ``transaction``, ``span``, ``error``, ..."""


class CapturingTransport(Transport):  # type: ignore[misc]
    """Appends queued events to :data:`EVENTS`; starts no thread, sends nothing."""

    def queue(self, event_type: str, data: dict[str, Any], flush: bool = False) -> None:
        EVENTS.append((event_type, data))

    def start_thread(self, pid: int | None = None) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
