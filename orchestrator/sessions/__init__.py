"""Sessions (DESIGN §18): conversations whose messages run tasks, stream, ask and resume.

- :mod:`~orchestrator.sessions.state`: live state in Redis ``orch:session:{id}`` (2 h, extended).
- :mod:`~orchestrator.sessions.history`: the ``sessions`` and ``session_messages`` tables.
- :mod:`~orchestrator.sessions.service`: messages, answers, ``on_busy``, status.
- :mod:`~orchestrator.sessions.errors`: ``session_not_found``, ``session_busy``,
  ``no_open_question``.
"""

from __future__ import annotations

from orchestrator.sessions.errors import NoOpenQuestionError, SessionBusyError, SessionNotFoundError
from orchestrator.sessions.history import SessionHistory
from orchestrator.sessions.service import SessionService, SessionView, reply_of
from orchestrator.sessions.state import OnBusy, SessionState, SessionStore, SessionTask

__all__ = [
    "NoOpenQuestionError",
    "OnBusy",
    "SessionBusyError",
    "SessionHistory",
    "SessionNotFoundError",
    "SessionService",
    "SessionState",
    "SessionStore",
    "SessionTask",
    "SessionView",
    "reply_of",
]
