"""Tags and their versions (DESIGN §15).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _big_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", _json(), nullable=False),
        sa.Column("org_scoped", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_tags_tenant_id_name"),
    )
    op.create_index("ix_tags_org_scoped", "tags", ["org_scoped"])
    op.create_table(
        "tag_versions",
        sa.Column("id", _big_id(), autoincrement=True, nullable=False),
        sa.Column("tag_id", _big_id(), nullable=False),
        sa.Column("tenant_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("body", _json(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name="fk_tag_versions_tag_id_tags", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tag_versions"),
        sa.UniqueConstraint("tag_id", "version", name="uq_tag_versions_tag_id_version"),
    )
    op.create_index("ix_tag_versions_tenant_id_name", "tag_versions", ["tenant_id", "name"])


def downgrade() -> None:
    op.drop_index("ix_tag_versions_tenant_id_name", table_name="tag_versions")
    op.drop_table("tag_versions")
    op.drop_index("ix_tags_org_scoped", table_name="tags")
    op.drop_table("tags")
