"""The event shape of DESIGN §6 and stream-id helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.serialization import dumps, loads
from orchestrator.types import EventType, JobId, JSONValue


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a job's stream.

    Attributes:
        id: The Redis stream entry id (``<ms>-<n>``), also the SSE event id.
        job_id: The job.
        type: One of :class:`EventType`'s values.
        step: The step, for ``step.*`` events.
        attempt: The step attempt (``step.*``) or job run count (``job.started``).
        seq: Position in the job's stream, from 1, without gaps.
        ts: Publication time, epoch seconds.
        data: Type-specific payload (a chunk, progress data, an error, the result).
    """

    id: str
    job_id: JobId
    type: str
    step: str | None
    attempt: int | None
    seq: int
    ts: float
    data: JSONValue
    _wire: str | None = field(default=None, compare=False, repr=False)
    _sse: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def is_terminal(self) -> bool:
        """True for ``job.succeeded``, ``job.failed`` and ``job.cancelled``."""
        return self.type in _TERMINAL

    def to_dict(self) -> dict[str, Any]:
        """The wire form sent over SSE and WebSocket."""
        return {
            "id": self.id,
            "job_id": self.job_id,
            "type": self.type,
            "step": self.step,
            "attempt": self.attempt,
            "seq": self.seq,
            "ts": self.ts,
            "data": self.data,
        }

    def wire(self) -> str:
        """:meth:`to_dict` as JSON text, encoded on first use only: the stream hub hands one
        event to every client of its job, so 100 clients cost one encoding, not 100."""
        if self._wire is None:
            object.__setattr__(self, "_wire", dumps(self.to_dict()).decode())
        assert self._wire is not None
        return self._wire

    def sse_frame(self) -> bytes:
        """The event as one Server-Sent Events message (``id:`` and ``data:`` lines, a blank
        line; WHATWG HTML §9.2), encoded on first use only, like :meth:`wire`. The JSON has no
        raw line breaks (they are escaped), so one ``data:`` line carries it."""
        if self._sse is None:
            object.__setattr__(self, "_sse", f"id: {self.id}\ndata: {self.wire()}\n\n".encode())
        assert self._sse is not None
        return self._sse

    @classmethod
    def from_stream(cls, job_id: JobId, entry_id: bytes | str, fields: dict[Any, Any]) -> Event:
        """Build an event from a Redis stream entry written by the publish script."""
        def get(name: str) -> Any:
            v = fields.get(name.encode(), fields.get(name))
            return v.decode() if isinstance(v, bytes) else v

        step = get("step") or None
        attempt = get("attempt")
        data = fields.get(b"data", fields.get("data"))
        return cls(
            id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
            job_id=job_id,
            type=get("type"),
            step=step,
            attempt=int(attempt) if attempt not in (None, "") else None,
            seq=int(get("seq")),
            ts=float(get("ts")),
            data=loads(data) if data not in (None, b"", "") else None,
        )


_TERMINAL = frozenset(
    {EventType.JOB_SUCCEEDED.value, EventType.JOB_FAILED.value, EventType.JOB_CANCELLED.value}
)


def parse_stream_id(value: str) -> tuple[int, int]:
    """Parse ``"<ms>-<n>"`` (or ``"<ms>"``) into a comparable tuple.

    Raises:
        ValueError: Not a stream id.
    """
    ms, _, n = value.partition("-")
    return int(ms), int(n or 0)


__all__ = ["Event", "parse_stream_id"]
