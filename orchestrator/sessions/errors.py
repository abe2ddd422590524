"""Errors of sessions, placed in the one error tree under the job errors they resemble."""

from __future__ import annotations

from orchestrator.errors import JobNotFoundError, JobStateConflictError


class SessionNotFoundError(JobNotFoundError):
    """No such session (or another tenant's, or another user's for a submitter): 404."""

    code = "session_not_found"


class SessionBusyError(JobStateConflictError):
    """A message arrived while a task runs and the session's ``on_busy`` is ``reject``: 409."""

    code = "session_busy"


class NoOpenQuestionError(JobStateConflictError):
    """An answer arrived while no task of the session waits for one: 409."""

    code = "no_open_question"


__all__ = ["NoOpenQuestionError", "SessionBusyError", "SessionNotFoundError"]
