"""The trace store's tables (DESIGN §5), as SQLAlchemy Core objects and nothing else.

Queries live in :mod:`orchestrator.trace.store`; every change here needs an Alembic revision in
``migrations/versions`` (the migration test compares this module with the migrated schema).
The same tables serve PostgreSQL (asyncpg) and SQLite (aiosqlite); the ``with_variant`` types pick
``JSONB`` on PostgreSQL and an ``INTEGER`` primary key on SQLite, where only that spelling
auto-increments.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names are deterministic so that migrations (and SQLite batch mode) can name them."""

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _json() -> TypeEngine[Any]:
    # none_as_null: a Python None is stored as SQL NULL, not as the JSON literal 'null'.
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _big_id() -> TypeEngine[int]:
    # SQLite only auto-increments a column spelled exactly INTEGER PRIMARY KEY.
    return BigInteger().with_variant(Integer(), "sqlite")


def _timestamp() -> DateTime:
    return DateTime(timezone=True)


jobs = Table(
    "jobs",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("workflow", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("inputs", _json(), nullable=False),
    Column("result", _json(), nullable=True),
    Column("error", _json(), nullable=True),
    Column("tenant_id", String(200), nullable=True),
    Column("user_id", String(200), nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("created_at", _timestamp(), nullable=False),
    Column("started_at", _timestamp(), nullable=True),
    Column("finished_at", _timestamp(), nullable=True),
    Column("trace_id", String(32), nullable=True),
    Index("ix_jobs_status", "status"),
    Index("ix_jobs_workflow_created_at", "workflow", "created_at"),
    Index("ix_jobs_created_at", "created_at"),
    Index("ix_jobs_idempotency_key", "idempotency_key"),
)
"""One row per job: its inputs, status, final result or error, and who submitted it."""

step_runs = Table(
    "step_runs",
    metadata,
    Column("id", _big_id(), primary_key=True, autoincrement=True),
    Column(
        "job_id",
        Uuid(),
        ForeignKey("jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("step", String(200), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", _timestamp(), nullable=True),
    Column("finished_at", _timestamp(), nullable=True),
    Column("duration_ms", Float(), nullable=True),
    Column("error", _json(), nullable=True),
    Column("worker_id", String(200), nullable=True),
    Column("output_bytes", Integer(), nullable=True),
    Column("cache_hit", Boolean(), nullable=True),
    UniqueConstraint("job_id", "step", "attempt", name="uq_step_runs_attempt"),
    Index("ix_step_runs_job_id", "job_id"),
)
"""One row per step attempt; ``(job_id, step, attempt)`` is the upsert key."""

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _big_id(), primary_key=True, autoincrement=True),
    Column("at", _timestamp(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("tenant_id", String(200), nullable=True),
    Column("action", String(100), nullable=False),
    # No foreign key: the audit trail outlives the jobs it mentions.
    Column("job_id", Uuid(), nullable=True),
    Column("details", _json(), nullable=True),
    Column("request_id", String(100), nullable=True),
    Column("client_ip", String(64), nullable=True),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_job_id", "job_id"),
    Index("ix_audit_log_tenant_id_at", "tenant_id", "at"),
)
"""Append-only record of who did what (submit, cancel, resume, ...) and from where."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("name", String(200), nullable=True),
    # SHA-256 of the secret, hex: keys are 256-bit random, so a fast hash suffices (no KDF).
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", _timestamp(), nullable=False),
    Column("revoked_at", _timestamp(), nullable=True),
    Column("last_used_at", _timestamp(), nullable=True),
    Index("ix_api_keys_tenant_id", "tenant_id"),
)
"""API keys (``orchestrator keys create``): the hash of each secret, never the secret itself."""

mcp_tokens = Table(
    "mcp_tokens",
    metadata,
    Column("server", String(200), nullable=False),
    # '' when the server's tokens are not per user (a NULL could not be part of the key).
    Column("user_key", String(200), nullable=False),
    # Fernet ciphertext of the token set (orchestrator/mcp/oauth/crypto.py), never plaintext.
    Column("token", LargeBinary(), nullable=False),
    Column("expires_at", _timestamp(), nullable=True),
    Column("updated_at", _timestamp(), nullable=False),
    # Incremented on every write: shows how many refreshes happened, and orders writers.
    Column("version", Integer(), nullable=False),
    PrimaryKeyConstraint("server", "user_key", name="pk_mcp_tokens"),
)
"""OAuth tokens of MCP servers (DESIGN §14), one row per server or per (server, user)."""

llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", _big_id(), primary_key=True, autoincrement=True),
    # No foreign key: usage is billing history and outlives the jobs it mentions.
    Column("job_id", Uuid(), nullable=False),
    Column("step", String(200), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("seq", Integer(), nullable=False),
    Column("workflow", String(200), nullable=True),
    Column("tenant_id", String(200), nullable=True),
    Column("user_id", String(200), nullable=True),
    Column("provider", String(50), nullable=False),
    Column("model", String(200), nullable=False),
    Column("requested_model", String(200), nullable=True),
    Column("input_tokens", BigInteger(), nullable=False),
    Column("output_tokens", BigInteger(), nullable=False),
    Column("cache_read_tokens", BigInteger(), nullable=False),
    Column("cache_write_tokens", BigInteger(), nullable=False),
    Column("cost_usd", Float(), nullable=True),
    Column("latency_ms", Float(), nullable=True),
    Column("time_to_first_token_ms", Float(), nullable=True),
    Column("stop_reason", String(50), nullable=True),
    Column("replayed", Boolean(), nullable=False),
    Column("created_at", _timestamp(), nullable=False),
    Index("ix_llm_calls_job_id", "job_id"),
    Index("ix_llm_calls_tenant_id_created_at", "tenant_id", "created_at"),
    Index("ix_llm_calls_created_at", "created_at"),
)
"""One row per LLM call a step made for real (DESIGN §16): tokens, cost (``NULL`` when the
model has no known price), latency. A call replayed from its durable record adds no row."""

tags = Table(
    "tags",
    metadata,
    Column("id", _big_id(), primary_key=True, autoincrement=True),
    Column("tenant_id", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("body", _json(), nullable=False),
    # Whether org_scope names tenants: such tags are read for every tenant's resolution.
    Column("org_scoped", Boolean(), nullable=False),
    Column("created_at", _timestamp(), nullable=False),
    Column("updated_at", _timestamp(), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("deleted_at", _timestamp(), nullable=True),
    UniqueConstraint("tenant_id", "name", name="uq_tags_tenant_id_name"),
    Index("ix_tags_org_scoped", "org_scoped"),
)
"""Tags (DESIGN §15): the live version of each tag of a tenant; ``deleted_at`` marks a soft delete."""

tag_versions = Table(
    "tag_versions",
    metadata,
    Column("id", _big_id(), primary_key=True, autoincrement=True),
    Column("tag_id", _big_id(), ForeignKey("tags.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("action", String(10), nullable=False),
    Column("body", _json(), nullable=False),
    Column("author", String(200), nullable=False),
    Column("at", _timestamp(), nullable=False),
    UniqueConstraint("tag_id", "version", name="uq_tag_versions_tag_id_version"),
    Index("ix_tag_versions_tenant_id_name", "tenant_id", "name"),
)
"""Every change of a tag (``put`` or ``delete``), with its author and time; never updated."""

agent_runs = Table(
    "agent_runs",
    metadata,
    # task_id = job_id; no foreign key, like llm_calls: the row is the task's history.
    Column("task_id", Uuid(), primary_key=True),
    Column("tenant_id", String(200), nullable=True),
    Column("user_id", String(200), nullable=True),
    Column("session_id", String(200), nullable=True),
    Column("task", String(), nullable=False),
    Column("selected_agent", String(200), nullable=True),
    Column("confidence", Float(), nullable=True),
    Column("reasoning", String(), nullable=True),
    # Whether the decision passed (confidence at or above the threshold, a registered agent).
    Column("accepted", Boolean(), nullable=True),
    Column("routed_at", _timestamp(), nullable=True),
    Column("result", _json(), nullable=True),
    Column("created_at", _timestamp(), nullable=False),
    Index("ix_agent_runs_tenant_id_created_at", "tenant_id", "created_at"),
    Index("ix_agent_runs_session_id", "session_id"),
)
"""Agent tasks (DESIGN §17): the task, the routing decision (agent, confidence, reasoning) and
the :class:`~orchestrator.agents.envelope.AgentOutput`; the status is the job's."""

messages = Table(
    "messages",
    metadata,
    Column("id", _big_id(), primary_key=True, autoincrement=True),
    Column("task_id", Uuid(), nullable=False),
    Column("session_id", String(200), nullable=True),
    Column("tenant_id", String(200), nullable=True),
    Column("role", String(20), nullable=False),
    Column("content", String(), nullable=False),
    Column("created_at", _timestamp(), nullable=False),
    UniqueConstraint("task_id", "role", name="uq_messages_task_id_role"),
    Index("ix_messages_session_id_created_at", "session_id", "created_at"),
)
"""The conversation of agent tasks: the user's task and the agent's reply (one of each per task)."""
sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("tenant_id", String(200), nullable=True),
    Column("user_id", String(200), nullable=False),
    Column("intent", String(200), nullable=True),
    Column("on_busy", String(20), nullable=False),
    Column("metadata", _json(), nullable=False),
    Column("created_at", _timestamp(), nullable=False),
    Index("ix_sessions_tenant_id_created_at", "tenant_id", "created_at"),
)
"""A conversation (DESIGN §18); its live state is in Redis ``orch:session:{id}``."""

session_messages = Table(
    "session_messages",
    metadata,
    Column("id", _big_id(), primary_key=True, autoincrement=True),
    Column("session_id", Uuid(), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(20), nullable=False),
    Column("content", Text(), nullable=False),
    Column("task_id", Uuid(), nullable=True),
    Column("at", _timestamp(), nullable=False),
    Index("ix_session_messages_session_id_id", "session_id", "id"),
)
"""A session's history: each user message and each task's reply, in order."""

__all__ = [
    "NAMING_CONVENTION",
    "agent_runs",
    "api_keys",
    "audit_log",
    "jobs",
    "llm_calls",
    "mcp_tokens",
    "messages",
    "metadata",
    "session_messages",
    "sessions",
    "step_runs",
    "tag_versions",
    "tags",
]
