"""OAuth tokens of MCP servers, encrypted at rest (DESIGN §14).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mcp_tokens",
        sa.Column("server", sa.String(200), nullable=False),
        sa.Column("user_key", sa.String(200), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("server", "user_key", name="pk_mcp_tokens"),
    )


def downgrade() -> None:
    op.drop_table("mcp_tokens")
