"""Errors of the agent layer (DESIGN §17, §20); none is retried by the step's ``retries``."""

from __future__ import annotations

from orchestrator.errors import OrchestratorError


class AgentError(OrchestratorError):
    """Base of the agent layer's errors."""

    code = "agent_failed"
    retryable: bool = False


class UnknownTaskTypeError(AgentError):
    """The router's confidence is below ``ORCH_AGENTS__MIN_CONFIDENCE``, or it named no
    registered agent; ``details``: ``agent_name``, ``confidence``, ``reasoning``, ``known``."""

    code = "unknown_task_type"


class AgentNotFoundError(AgentError):
    """No registered agent of that name (``details["agent"]``, ``details["known"]``)."""

    code = "agent_not_found"


class EnvelopeInvalidError(AgentError):
    """The model answered with no valid envelope after ``ORCH_AGENTS__MAX_ENVELOPE_RETRIES``
    re-asks; ``details["errors"]`` holds the last validation errors."""

    code = "envelope_invalid"


class AgentLimitError(AgentError):
    """A run went over one of its limits; ``details["limit"]`` is ``turns``, ``tool_calls``,
    ``tokens`` or ``cost_usd`` and ``details["max"]`` its value."""

    code = "agent_limit_exceeded"


class AgentReportedError(AgentError):
    """The model answered with an ``error`` envelope; ``details`` carries its message."""

    code = "agent_error"


class TaskNotFoundError(OrchestratorError):
    """No task of that id in the caller's tenant (404)."""

    code = "task_not_found"


class TaskEmptyError(OrchestratorError):
    """``task`` is empty or only whitespace (422)."""

    code = "task_empty"


class TaskTooLongError(OrchestratorError):
    """``task`` is longer than ``ORCH_AGENTS__MAX_TASK_CHARS`` (422); ``details["max_chars"]``."""

    code = "task_too_long"


__all__ = [
    "AgentError",
    "AgentLimitError",
    "AgentNotFoundError",
    "AgentReportedError",
    "EnvelopeInvalidError",
    "TaskEmptyError",
    "TaskNotFoundError",
    "TaskTooLongError",
    "UnknownTaskTypeError",
]
