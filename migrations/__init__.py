"""Alembic migrations of the trace store; applied by :func:`orchestrator.trace.migrate.upgrade`."""
