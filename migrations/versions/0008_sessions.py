"""Sessions: conversations and their history (DESIGN §18).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    json = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.String(200), nullable=True),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("intent", sa.String(200), nullable=True),
        sa.Column("on_busy", sa.String(20), nullable=False),
        sa.Column("metadata", json, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_tenant_id_created_at", "sessions", ["tenant_id", "created_at"])
    op.create_table(
        "session_messages",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_session_messages"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE",
                                name="fk_session_messages_session_id_sessions"),
    )  # fmt: skip
    op.create_index("ix_session_messages_session_id_id", "session_messages", ["session_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_session_messages_session_id_id", table_name="session_messages")
    op.drop_table("session_messages")
    op.drop_index("ix_sessions_tenant_id_created_at", table_name="sessions")
    op.drop_table("sessions")
