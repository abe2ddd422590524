"""Alembic migrations of the trace store; applied by :func:`orchestrator.trace.migrate.upgrade`."""

HEAD = "0008"
"""The newest revision of ``versions/`` (the one a migrated database is at). Kept here so that a
server's start-up check needs no Alembic (its import is ~9 MB of a worker's memory); a test
checks it against the head Alembic computes from ``versions/``."""
