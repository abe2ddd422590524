"""Tags in the trace database (PostgreSQL; SQLite for ``make run``): tables ``tags`` and
``tag_versions`` (Alembic revision 0005, schema in :mod:`orchestrator.trace.schema`).

Each change is one transaction: the live row (locked with ``SELECT ... FOR UPDATE`` on
PostgreSQL), its version row and the optional audit row commit together or not at all. The
first put of a name inserts a placeholder row with ``ON CONFLICT DO NOTHING`` first, so that two
concurrent first puts serialise on the row lock instead of one failing on the unique key.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orchestrator.errors import TagNotFoundError, TraceError
from orchestrator.tags.base import StoredTag, TagChange, TagVersion, with_version
from orchestrator.tags.model import Tag, TagKind, trusted_tag
from orchestrator.trace.records import AuditRecord, audit_values, from_db, to_db
from orchestrator.trace.schema import audit_log, tag_versions, tags


class SqlTagStore:
    """The :class:`~orchestrator.tags.base.TagStore` on the trace database.

    Args:
        engine: The trace store's async engine, or a callable returning it (a worker's trace
            store is built on first use); not disposed of here.
    """

    def __init__(self, engine: AsyncEngine | Callable[[], AsyncEngine]) -> None:
        self._engine_or_factory = engine

    @property
    def _engine(self) -> AsyncEngine:
        source = self._engine_or_factory
        return source if isinstance(source, AsyncEngine) else source()

    async def get(self, tenant_id: str, name: str) -> StoredTag | None:
        """The live tag ``name`` of ``tenant_id``, or ``None``."""
        query = select(tags).where(
            tags.c.tenant_id == tenant_id, tags.c.name == name, tags.c.deleted_at.is_(None)
        )
        async with self._transaction("get") as conn:
            row = (await conn.execute(query)).first()
        return _stored(row) if row is not None else None

    async def list(self, tenant_id: str, *, kind: TagKind | None = None) -> list[StoredTag]:
        """The tenant's live tags, by name (optionally of one kind)."""
        query = select(tags).where(tags.c.tenant_id == tenant_id, tags.c.deleted_at.is_(None))
        if kind is not None:
            query = query.where(tags.c.kind == str(kind))
        async with self._transaction("list") as conn:
            rows = (await conn.execute(query.order_by(tags.c.name))).all()
        return [_stored(row) for row in rows]

    async def applicable(self, tenant_id: str) -> builtins.list[StoredTag]:
        """Live tags that may apply in ``tenant_id`` (own ones scoped to it, and org-scoped ones
        of any tenant that name it), by owner tenant then name."""
        query = (
            select(tags)
            .where(tags.c.deleted_at.is_(None),
                   or_(tags.c.tenant_id == tenant_id, tags.c.org_scoped.is_(True)))
            .order_by(tags.c.tenant_id, tags.c.name)
        )  # fmt: skip
        async with self._transaction("applicable") as conn:
            rows = (await conn.execute(query)).all()
        found = (_stored(row) for row in rows)
        return [s for s in found if tenant_id in s.scope]

    async def put(
        self, tenant_id: str, tag: Tag, *, author: str, audit: AuditRecord | None = None
    ) -> TagChange:
        """Create or replace a tag; see :meth:`TagStore.put <orchestrator.tags.base.TagStore.put>`."""
        body = tag.body()
        now = datetime.now(UTC)
        async with self._transaction("put") as conn:
            await conn.execute(self._insert_placeholder(tenant_id, tag.tag, tag.kind, now))
            row = (await conn.execute(self._locked(tenant_id, tag.tag))).one()
            live = row.deleted_at is None and row.version > 0
            if live and row.body == body:
                return TagChange(_stored(row), changed=False, tenants=frozenset())
            old_scope = _stored(row).scope if live else frozenset()
            version = row.version + 1
            await conn.execute(
                update(tags).where(tags.c.id == row.id).values(
                    kind=str(tag.kind), version=version, body=body,
                    org_scoped=bool(tag.payload.config.org_scope), updated_at=to_db(now),
                    updated_by=author, deleted_at=None,
                )
            )  # fmt: skip
            await conn.execute(tag_versions.insert().values(
                tag_id=row.id, tenant_id=tenant_id, name=tag.tag, version=version, action="put",
                body=body, author=author, at=to_db(now),
            ))  # fmt: skip
            if audit is not None:
                await conn.execute(
                    audit_log.insert().values(audit_values(with_version(audit, version)))
                )
        stored = StoredTag(tenant_id, tag, version, now, author)
        return TagChange(stored, changed=True, tenants=old_scope | stored.scope,
                         created=not live)  # fmt: skip

    async def delete(
        self, tenant_id: str, name: str, *, author: str, audit: AuditRecord | None = None
    ) -> TagChange:
        """Soft-delete a live tag; see :meth:`TagStore.delete <orchestrator.tags.base.TagStore.delete>`."""
        now = datetime.now(UTC)
        async with self._transaction("delete") as conn:
            row = (await conn.execute(self._locked(tenant_id, name))).first()
            if row is None or row.deleted_at is not None or row.version == 0:
                raise TagNotFoundError(f"no tag {name!r} in this tenant", details={"tag": name})
            stored = _stored(row)
            version = row.version + 1
            await conn.execute(
                update(tags).where(tags.c.id == row.id).values(
                    version=version, deleted_at=to_db(now), updated_at=to_db(now),
                    updated_by=author,
                )
            )  # fmt: skip
            await conn.execute(tag_versions.insert().values(
                tag_id=row.id, tenant_id=tenant_id, name=name, version=version, action="delete",
                body=row.body, author=author, at=to_db(now),
            ))  # fmt: skip
            if audit is not None:
                await conn.execute(
                    audit_log.insert().values(audit_values(with_version(audit, version)))
                )
        return TagChange(stored, changed=True, tenants=stored.scope)

    async def versions(self, tenant_id: str, name: str) -> builtins.list[TagVersion]:
        """The tag's changes, oldest first; see :class:`~orchestrator.tags.base.TagStore`."""
        query = (
            select(tag_versions)
            .where(tag_versions.c.tenant_id == tenant_id, tag_versions.c.name == name)
            .order_by(tag_versions.c.version)
        )
        async with self._transaction("versions") as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            raise TagNotFoundError(f"no tag {name!r} in this tenant", details={"tag": name})
        return [
            TagVersion(tenant_id=r.tenant_id, name=r.name, version=r.version, action=r.action,
                       body=r.body, author=r.author, at=from_db(r.at) or r.at)
            for r in rows
        ]  # fmt: skip

    def _insert_placeholder(self, tenant_id: str, name: str, kind: TagKind, now: datetime) -> Any:
        values = {
            "tenant_id": tenant_id, "name": name, "kind": str(kind), "version": 0, "body": {},
            "org_scoped": False, "created_at": to_db(now), "updated_at": to_db(now),
            "updated_by": "-", "deleted_at": to_db(now),
        }  # fmt: skip
        insert = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        return (
            insert(tags).values(values).on_conflict_do_nothing(index_elements=["tenant_id", "name"])
        )

    @staticmethod
    def _locked(tenant_id: str, name: str) -> Any:
        # FOR UPDATE on PostgreSQL; SQLite ignores it (its writes are serialised anyway).
        return (
            select(tags).where(tags.c.tenant_id == tenant_id, tags.c.name == name).with_for_update()
        )

    @asynccontextmanager
    async def _transaction(self, operation: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise TraceError(
                f"tag store {operation} failed",
                details={"operation": f"tags.{operation}", "error": type(exc).__name__},
            ) from exc


def _stored(row: Any) -> StoredTag:
    return StoredTag(
        tenant_id=row.tenant_id, tag=trusted_tag(row.body),
        version=row.version,
        updated_at=from_db(row.updated_at) or row.updated_at, updated_by=row.updated_by,
    )  # fmt: skip


__all__ = ["SqlTagStore"]
