"""The :class:`StepContext` a step receives through a parameter annotated with it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.types import JobId, JSONValue, StepName


class StepContext:
    """What a running step may know and do about its job.

    Attributes:
        job_id: The job's id.
        step: This step's name.
        attempt: The attempt number, from 1.
        inputs: The job's validated inputs (read-only mapping).
        logger: A structlog logger bound to ``job_id``, ``step`` and ``attempt``.
    """

    __slots__ = ("_emit", "attempt", "inputs", "job_id", "logger", "step")

    def __init__(
        self,
        *,
        job_id: JobId,
        step: StepName,
        attempt: int,
        inputs: Mapping[str, JSONValue],
        emit: Callable[[JSONValue], None],
        logger: Any,
    ) -> None:
        self.job_id = job_id
        self.step = step
        self.attempt = attempt
        self.inputs = inputs
        self.logger = logger
        self._emit = emit

    def emit(self, data: JSONValue) -> None:
        """Publish a ``step.progress`` event carrying ``data`` (any JSON value).

        Safe to call from a sync step's thread; events keep their order with the step's chunks.
        """
        self._emit(data)

    def __repr__(self) -> str:
        return f"<StepContext job={self.job_id} step={self.step} attempt={self.attempt}>"


__all__ = ["StepContext"]
