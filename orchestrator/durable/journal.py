"""One step attempt's durable calls: sequence numbers, fingerprints, replay (DESIGN §13).

The scheme is Temporal's and DBOS's deterministic replay reduced to what a step needs: the
``n``-th call a step attempt makes is matched with the ``n``-th call an earlier attempt of the
same step made. When both requests have the same fingerprint the recorded result is returned
and nothing is sent; otherwise the call is made for real and the record replaced.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from opentelemetry import trace

from orchestrator.durable.base import CallRecord, CallStore, fingerprint_of
from orchestrator.types import JobId, JSONValue, StepName

_log = structlog.get_logger("orchestrator.durable")


@dataclass(slots=True)
class CallSlot:
    """A reserved sequence number for one call, with its request's fingerprint.

    Get one from :meth:`CallJournal.slot`; :meth:`lookup` before the call, :meth:`record`
    after it. A streaming call (an LLM stream) uses the two halves around its stream.

    Attributes:
        seq: The call's number within the step attempt, from 1.
        kind: What is called.
        fingerprint: The request's fingerprint.
        replayed: Set by :meth:`lookup` when a matching record was found.
    """

    journal: CallJournal
    seq: int
    kind: str
    fingerprint: str
    replayed: bool = False

    async def lookup(self) -> CallRecord | None:
        """The earlier attempt's record of this call when its fingerprint matches, else ``None``.

        A record with another fingerprint (the step's code took another path) is logged and
        noted on the current span as ``durable_call.mismatch``; the call must then be made.

        Raises:
            StateError: The store is unreachable.
        """
        j = self.journal
        record = await j.store.get_call(j.job_id, j.step, self.seq)
        if record is None:
            return None
        attributes: dict[str, str | int] = {
            "durable_call.seq": self.seq,
            "durable_call.kind": self.kind,
        }
        if record.fingerprint != self.fingerprint:
            j.mismatches.append(self.seq)
            _log.warning(
                "durable call differs from the recorded one; calling again",
                job_id=j.job_id, step=j.step, seq=self.seq, kind=self.kind,
                recorded_kind=record.kind,
            )  # fmt: skip
            trace.get_current_span().add_event("durable_call.mismatch", attributes)
            return None
        self.replayed = True
        j.replayed += 1
        trace.get_current_span().add_event("durable_call.replayed", attributes)
        return record

    async def record(self, result: JSONValue, duration_ms: float) -> None:
        """Checkpoint the call's result (a JSON value).

        Raises:
            StateError: The store is unreachable.
            SerializationError: ``result`` is not JSON-serializable.
        """
        j = self.journal
        rec = CallRecord(self.kind, self.fingerprint, result, duration_ms, time.time())
        await j.store.put_call(j.job_id, j.step, self.seq, rec)


@dataclass(slots=True)
class CallJournal:
    """The durable calls of one step attempt (one per attempt; numbering restarts at 1).

    Sequence numbers are taken when a call is *issued*, synchronously, so concurrent calls
    (``call_many``, ``asyncio.gather``) keep the order in which the step issued them.

    Attributes:
        store: Where records live.
        job_id: The job.
        step: The step, or fan-out instance ``step[i]``.
        replayed: Calls answered from a record in this attempt.
        mismatches: Sequence numbers whose record belonged to another request.
    """

    store: CallStore
    job_id: JobId
    step: StepName
    replayed: int = 0
    mismatches: list[int] = field(default_factory=list)
    _seq: int = 0

    def slot(self, kind: str, request: JSONValue) -> CallSlot:
        """Reserve the next sequence number for a call of ``kind`` with ``request``."""
        self._seq += 1
        return CallSlot(self, self._seq, kind, fingerprint_of(kind, request))

    async def call(
        self,
        kind: str,
        request: JSONValue,
        fn: Callable[[], Awaitable[JSONValue]],
    ) -> JSONValue:
        """Make a call durably: replay its recorded result, or await ``fn()`` and record it.

        Args:
            kind: What is called, e.g. ``tool:git/git_log``.
            request: Everything that determines the result (arguments, messages, model...).
            fn: Makes the real call; returns a JSON value. An exception is not recorded (a
                later attempt calls again) and propagates.

        Returns:
            The result, recorded or fresh.

        Raises:
            StateError: The store is unreachable.
        """
        slot = self.slot(kind, request)
        record = await slot.lookup()
        if record is not None:
            return record.result
        t0 = time.perf_counter()
        result = await fn()
        await slot.record(result, (time.perf_counter() - t0) * 1000)
        return result

    @property
    def issued(self) -> int:
        """How many calls this attempt has issued so far."""
        return self._seq


__all__ = ["CallJournal", "CallSlot"]
