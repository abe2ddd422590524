"""Errors of sessions, placed in the one error tree under the job errors they resemble."""

from __future__ import annotations

from orchestrator.errors import JobNotFoundError, JobNotVisibleError, JobStateConflictError


class SessionNotFoundError(JobNotFoundError):
    """No such session (or expired): 404."""

    code = "session_not_found"


class SessionNotVisibleError(SessionNotFoundError, JobNotVisibleError):
    """Another tenant's session (or another user's, for a submitter): the same 404 to the
    caller, and audited as a refusal, as another tenant's job is."""

    code = "session_not_found"


class SessionBusyError(JobStateConflictError):
    """A message arrived while a task runs and the session's ``on_busy`` is ``reject``: 409."""

    code = "session_busy"


class NoOpenQuestionError(JobStateConflictError):
    """An answer arrived while no task of the session waits for one: 409."""

    code = "no_open_question"


__all__ = [
    "NoOpenQuestionError",
    "SessionBusyError",
    "SessionNotFoundError",
    "SessionNotVisibleError",
]
