"""The trace store: the system of record for jobs, step attempts and the audit log (DESIGN §5).

:class:`TraceStore` talks to PostgreSQL (asyncpg) or SQLite (aiosqlite) through one SQLAlchemy
async code path; :func:`upgrade` applies the Alembic migrations that create its schema. Both are
imported on first use: the records are plain dataclasses, and a worker starts without loading
SQLAlchemy (:mod:`orchestrator.trace.deferred`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.trace.records import AuditRecord, JobFinish, JobRecord, StepRunRecord

if TYPE_CHECKING:
    from orchestrator.trace.migrate import current, upgrade
    from orchestrator.trace.store import TraceStore

__all__ = [
    "AuditRecord", "JobFinish", "JobRecord", "StepRunRecord", "TraceStore", "current", "upgrade",
]


def __getattr__(name: str) -> Any:
    # SQLAlchemy costs ~0.2 s of import time and Alembic ~70 ms more; records need neither.
    if name == "TraceStore":
        from orchestrator.trace.store import TraceStore

        return TraceStore
    if name in ("current", "upgrade"):
        from orchestrator.trace import migrate

        return getattr(migrate, name)
    raise AttributeError(f"module 'orchestrator.trace' has no attribute {name!r}")
