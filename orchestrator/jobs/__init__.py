"""Job operations behind the HTTP API: submit, read, cancel, answer, retry (DESIGN §3, §6).

PostgreSQL is the system of record (the ``jobs`` row); Redis holds the live state, checkpoints
and events. A job view combines both: the row for identity and history, Redis for live steps.
"""

from orchestrator.jobs.actor import Actor
from orchestrator.jobs.service import JobService
from orchestrator.jobs.submission import concurrency_key_of, trace_id_of
from orchestrator.jobs.views import JobView

__all__ = ["Actor", "JobService", "JobView", "concurrency_key_of", "trace_id_of"]
