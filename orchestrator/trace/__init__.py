"""The trace store: the system of record for jobs, step attempts and the audit log (DESIGN §5).

:class:`TraceStore` talks to PostgreSQL (asyncpg) or SQLite (aiosqlite) through one SQLAlchemy
async code path; :func:`upgrade` applies the Alembic migrations that create its schema.
"""

from __future__ import annotations

from orchestrator.trace.migrate import current, upgrade
from orchestrator.trace.records import AuditRecord, JobRecord, StepRunRecord
from orchestrator.trace.store import TraceStore

__all__ = ["AuditRecord", "JobRecord", "StepRunRecord", "TraceStore", "current", "upgrade"]
