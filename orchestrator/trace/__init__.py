"""The trace store: the system of record for jobs, step attempts and the audit log (DESIGN §5).

:class:`TraceStore` talks to PostgreSQL (asyncpg) or SQLite (aiosqlite) through one SQLAlchemy
async code path; :func:`upgrade` applies the Alembic migrations that create its schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.trace.records import AuditRecord, JobRecord, StepRunRecord
from orchestrator.trace.store import TraceStore

if TYPE_CHECKING:
    from orchestrator.trace.migrate import current, upgrade

__all__ = ["AuditRecord", "JobRecord", "StepRunRecord", "TraceStore", "current", "upgrade"]


def __getattr__(name: str) -> Any:
    # Alembic costs ~70 ms of import time; workers and the gateway never migrate.
    if name in ("current", "upgrade"):
        from orchestrator.trace import migrate

        return getattr(migrate, name)
    raise AttributeError(f"module 'orchestrator.trace' has no attribute {name!r}")
