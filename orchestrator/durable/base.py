"""The durable-call seam: where a step's finished calls are checkpointed (DESIGN §13)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Protocol

from orchestrator.serialization import dumps, loads, to_jsonable
from orchestrator.types import JobId, JSONValue, StepName


def fingerprint_of(kind: str, request: JSONValue) -> str:
    """A stable digest of a call's request: SHA-256 over canonical JSON, first 32 hex digits.

    Args:
        kind: What is called, e.g. ``tool:git/git_log`` or ``llm:anthropic:claude-sonnet-4-5``.
        request: The request's JSON value (arguments, messages, ...); pydantic models and other
            values :func:`~orchestrator.serialization.to_jsonable` knows are accepted.

    Returns:
        The same string in every process and on every machine for equal requests (keys sorted,
        no whitespace), so a resumed step on another worker recognises its own calls.
    """
    canonical = json.dumps(
        {"kind": kind, "request": to_jsonable(request)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call as checkpointed.

    Attributes:
        kind: What was called (see :func:`fingerprint_of`).
        fingerprint: The request's fingerprint.
        result: The call's result as a JSON value.
        duration_ms: How long the real call took, in milliseconds.
        recorded_at: When it was checkpointed, epoch seconds.
    """

    kind: str
    fingerprint: str
    result: JSONValue
    duration_ms: float
    recorded_at: float

    def encode(self) -> bytes:
        """The record as JSON bytes."""
        return dumps(asdict(self))

    @classmethod
    def decode(cls, raw: bytes) -> CallRecord:
        """Parse :meth:`encode`'s bytes."""
        data = loads(raw)
        return cls(
            kind=str(data["kind"]),
            fingerprint=str(data["fingerprint"]),
            result=data["result"],
            duration_ms=float(data["duration_ms"]),
            recorded_at=float(data["recorded_at"]),
        )


class CallStore(Protocol):
    """Checkpoints of finished calls, by job, step (or fan-out instance) and sequence number.

    Records live as long as the step's own checkpoint (the state TTL); each method is atomic.
    """

    async def get_call(self, job_id: JobId, step: StepName, seq: int) -> CallRecord | None:
        """The record of the ``seq``-th call (from 1) of ``step``, or ``None``.

        Raises:
            StateError: The store is unreachable.
        """
        ...

    async def put_call(self, job_id: JobId, step: StepName, seq: int, record: CallRecord) -> None:
        """Checkpoint the ``seq``-th call of ``step``, replacing any earlier record.

        Raises:
            StateError: The store is unreachable.
        """
        ...


__all__ = ["CallRecord", "CallStore", "fingerprint_of"]
