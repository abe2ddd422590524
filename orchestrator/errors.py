"""The one error tree of AgentOrchestrator.

Every error a caller may catch derives from :class:`OrchestratorError` and carries a stable
``code`` (a snake_case string that clients may match on; messages may change, codes do not)::

    OrchestratorError                  code
    ├── ConfigError                    config_invalid
    ├── DagError                       dag_invalid
    ├── WorkflowNotFoundError          workflow_not_found
    ├── InputValidationError           inputs_invalid
    │   ├── AnswerValidationError      answer_invalid
    │   ├── VersionNotFoundError       version_unknown
    │   ├── InputsTooLargeError        inputs_too_large
    │   └── InputsTooDeepError         inputs_too_deep
    ├── JobNotFoundError               job_not_found
    │   └── JobNotVisibleError         job_not_found (another tenant's job: a 404, audited)
    ├── StepNotFoundError              step_not_found
    ├── OutputNotFoundError            output_not_found
    ├── JobStateConflictError          job_state_conflict
    ├── SerializationError             output_not_serializable
    ├── StateError                     state_unavailable
    │   └── LeaseLostError             lease_lost
    ├── QueueError                     queue_unavailable
    ├── TraceError                     trace_unavailable
    │   └── NotMigratedError           database_not_migrated
    ├── AuthError
    │   ├── AuthenticationError        unauthenticated
    │   ├── PermissionDeniedError      forbidden
    │   └── RateLimitedError           rate_limited
    ├── PayloadTooLargeError           payload_too_large
    ├── ClusterError                   cluster_unavailable (orchestrator/k8s/base.py)
    ├── ToolError                      tool_failed (the MCP tool plane, orchestrator/mcp)
    │   ├── ToolNotFoundError          tool_not_found
    │   ├── ToolForbiddenError         tool_forbidden
    │   ├── ToolArgumentsError         tool_arguments_invalid
    │   ├── ToolTimeoutError           tool_timeout
    │   ├── McpUnavailableError        mcp_unavailable
    │   └── McpAuthRequiredError       mcp_auth_required
    ├── LLMError                       llm_error, llm_rate_limited, llm_unavailable,
    │                                  llm_protocol_error, llm_request_invalid
    │                                  (orchestrator/llm/errors.py, with LLMConfigError
    │                                  llm_config_invalid and BudgetExceededError
    │                                  budget_exceeded, a RateLimitedError: 429)
    ├── ToolForbiddenError             tool_forbidden (tag policy refused a tool; never retried)
    ├── TagInvalidError                tag_invalid
    ├── TagNotFoundError               tag_not_found
    └── StepError                      step_failed
        ├── StepTimeoutError           step_timeout
        └── OutputTooLargeError        output_too_large

Control flow is separate from errors: :class:`Retry` asks for another attempt of a step, and
:class:`JobCancelled` derives from ``BaseException`` so that ``except Exception`` in user code
cannot swallow a cancellation. The gateway maps error classes to HTTP statuses in one table
(``gateway/errors.py``). Modelled on Dramatiq's and httpx's error trees.
"""

from __future__ import annotations

from typing import Any


class OrchestratorError(Exception):
    """Base of every AgentOrchestrator error.

    Args:
        message: A human-readable sentence; not part of the API.
        details: JSON-serializable context (e.g. the offending step and parameter).
    """

    code: str = "orchestrator_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        """Return the error as ``{"code", "message", "details"}`` (DESIGN §6)."""
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(OrchestratorError):
    """The settings are missing or inconsistent (raised at start-up, naming the variable)."""

    code = "config_invalid"


class DagError(OrchestratorError):
    """A workflow's DAG is invalid; raised by ``workflow()`` naming the step and parameter."""

    code = "dag_invalid"


class WorkflowNotFoundError(OrchestratorError):
    """No workflow of that name is registered (see ``ORCH_WORKFLOWS``)."""

    code = "workflow_not_found"


class InputValidationError(OrchestratorError):
    """A job's inputs do not match its workflow's parameters; ``details["errors"]`` names each."""

    code = "inputs_invalid"


class AnswerValidationError(InputValidationError):
    """An answer to a job's question does not match the question's JSON schema."""

    code = "answer_invalid"


class VersionNotFoundError(InputValidationError):
    """A submit pinned a workflow version that no registered workflow has."""

    code = "version_unknown"


class InputsTooLargeError(InputValidationError):
    """A job's inputs exceed ``ORCH_AUTH__MAX_INPUTS_BYTES`` once serialized."""

    code = "inputs_too_large"


class InputsTooDeepError(InputValidationError):
    """A job's inputs nest deeper than ``ORCH_AUTH__MAX_INPUTS_DEPTH``."""

    code = "inputs_too_deep"


class JobNotFoundError(OrchestratorError):
    """No job has that id."""

    code = "job_not_found"


class JobNotVisibleError(JobNotFoundError):
    """The job exists but belongs to another tenant (or, for a submitter, another user).

    Callers see exactly a :class:`JobNotFoundError` (same code, message and status) so that job
    ids of other tenants cannot be probed; the gateway audits it as a denied attempt.
    """


class StepNotFoundError(OrchestratorError):
    """The job's workflow has no step of that name."""

    code = "step_not_found"


class OutputNotFoundError(OrchestratorError):
    """The step exists but has no checkpointed output (not finished, or expired)."""

    code = "output_not_found"


class JobStateConflictError(OrchestratorError):
    """The request conflicts with the job's status (e.g. cancelling a finished job)."""

    code = "job_state_conflict"


class SerializationError(OrchestratorError):
    """A step returned a value that is neither JSON nor a pydantic model."""

    code = "output_not_serializable"


class StateError(OrchestratorError):
    """The state store (Redis) failed or holds something unexpected."""

    code = "state_unavailable"


class LeaseLostError(StateError):
    """This worker no longer holds the job's lease; another worker has taken the job over."""

    code = "lease_lost"


class QueueError(OrchestratorError):
    """The job queue (arq on Redis) could not accept or report work."""

    code = "queue_unavailable"


class TraceError(OrchestratorError):
    """The trace store (PostgreSQL or SQLite) failed."""

    code = "trace_unavailable"


class NotMigratedError(TraceError):
    """The trace database is behind the code's migrations: run ``orchestrator migrate``."""

    code = "database_not_migrated"


class AuthError(OrchestratorError):
    """Base of the authentication, authorization and rate-limit refusals."""

    code = "auth_error"


class AuthenticationError(AuthError):
    """No credentials, or credentials that are invalid, expired, revoked or wrongly signed."""

    code = "unauthenticated"


class PermissionDeniedError(AuthError):
    """The caller is authenticated but its role lacks the permission the route needs."""

    code = "forbidden"


class RateLimitedError(AuthError):
    """A rate limit or the concurrent-stream cap was reached.

    Args:
        retry_after_seconds: When a new attempt may succeed (the ``Retry-After`` header).
    """

    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after_seconds: int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details={**(details or {}),
                                           "retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class PayloadTooLargeError(OrchestratorError):
    """A request body or WebSocket message is larger than its configured limit."""

    code = "payload_too_large"


class ToolError(OrchestratorError):
    """Base of the MCP tool plane's errors (DESIGN §14, §20).

    ``retryable`` says whether another attempt of the calling step may succeed: a step that
    gets a non-retryable tool error fails at once, whatever its ``retries``.
    """

    code = "tool_failed"
    retryable: bool = True


class ToolNotFoundError(ToolError):
    """No configured MCP server of that name, or the server has no tool of that name."""

    code = "tool_not_found"
    retryable = False


class ToolForbiddenError(ToolError):
    """The tool policy (``orchestrator/mcp/policy.py``) refused the call; audited ``tool.refused``."""

    code = "tool_forbidden"
    retryable = False


class ToolArgumentsError(ToolError):
    """The arguments fail the tool's input schema; nothing was sent. ``details["field"]`` names
    the first failing field (a JSON pointer), ``details["errors"]`` lists them all."""

    code = "tool_arguments_invalid"
    retryable = False


class ToolTimeoutError(ToolError):
    """The server did not answer within the server's ``timeout_seconds``."""

    code = "tool_timeout"


class McpUnavailableError(ToolError):
    """The server could not be reached, or its connection (process) died mid-call; the next
    call opens a new connection."""

    code = "mcp_unavailable"


class McpAuthRequiredError(ToolError):
    """No valid token can be had for the server (no stored token, a refresh that failed, or a
    second 401 after one refresh): someone must run ``orchestrator mcp login SERVER``."""

    code = "mcp_auth_required"
    retryable = False
class TagInvalidError(OrchestratorError):
    """A tag fails its schema (``details["field"]`` names the field): a bad pattern, a scope that
    is not a JSON Schema, a body ``tag`` different from the path."""

    code = "tag_invalid"


class TagNotFoundError(OrchestratorError):
    """No live tag of that name in the caller's tenant."""

    code = "tag_not_found"


class StepError(OrchestratorError):
    """A step attempt failed; ``details`` holds the exception type and message."""

    code = "step_failed"


class StepTimeoutError(StepError):
    """A step attempt ran longer than its ``timeout_seconds``."""

    code = "step_timeout"


class OutputTooLargeError(StepError):
    """A step's serialized output exceeds ``ORCH_STATE__MAX_OUTPUT_BYTES``; never retried."""

    code = "output_too_large"


class Retry(Exception):
    """Raised by a step to ask for another attempt.

    Args:
        after_seconds: Delay before the next attempt, in seconds; ``None`` uses the step's backoff.
        reason: Why, published on the ``step.retrying`` event.

    The attempt counts against the step's ``retries``; when none remain the step fails.
    """

    def __init__(self, after_seconds: float | None = None, reason: str | None = None) -> None:
        super().__init__(reason or "retry requested")
        self.after_seconds = after_seconds
        self.reason = reason or "retry requested"


class WaitingForInput(BaseException):
    """Raised by ``ctx.ask()`` when its answer has not arrived: the job pauses in ``waiting``.

    Derives from ``BaseException`` so that ``except Exception`` in user code lets it through.

    Attributes:
        index: Which question of the step this is (0 for its first ``ask``).
        prompt: The question.
        schema: The JSON schema the answer must match.
    """

    def __init__(self, index: int, prompt: str, schema: dict[str, Any]) -> None:
        super().__init__(prompt)
        self.index = index
        self.prompt = prompt
        self.schema = schema


class JobCancelled(BaseException):
    """Raised inside a step when its job is cancelled; derives from ``BaseException`` on purpose."""


__all__ = [
    "AnswerValidationError",
    "AuthError",
    "AuthenticationError",
    "ConfigError",
    "DagError",
    "InputValidationError",
    "InputsTooDeepError",
    "InputsTooLargeError",
    "JobCancelled",
    "JobNotFoundError",
    "JobNotVisibleError",
    "JobStateConflictError",
    "LeaseLostError",
    "McpAuthRequiredError",
    "McpUnavailableError",
    "NotMigratedError",
    "OrchestratorError",
    "OutputNotFoundError",
    "OutputTooLargeError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "QueueError",
    "RateLimitedError",
    "Retry",
    "SerializationError",
    "StateError",
    "StepError",
    "StepNotFoundError",
    "StepTimeoutError",
    "TagInvalidError",
    "TagNotFoundError",
    "ToolArgumentsError",
    "ToolError",
    "ToolForbiddenError",
    "ToolNotFoundError",
    "ToolTimeoutError",
    "TraceError",
    "VersionNotFoundError",
    "WaitingForInput",
    "WorkflowNotFoundError",
]
