"""An in-memory :class:`~orchestrator.tags.base.TagStore` for unit tests and local runs.

Same semantics as :class:`~orchestrator.tags.store.SqlTagStore` (the contract suite runs against
both): versions, soft deletes, idempotent puts, and changes that apply entirely or not at all.
"""

from __future__ import annotations

import asyncio
import builtins
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import TagNotFoundError
from orchestrator.tags.base import StoredTag, TagChange, TagVersion, with_version
from orchestrator.tags.model import Tag, TagKind
from orchestrator.trace.records import AuditRecord, audit_values


@dataclass
class _Entry:
    version: int
    body: dict[str, Any]
    stored: StoredTag
    deleted: bool = False


@dataclass
class MemoryTagStore:
    """Tags in dictionaries; ``audits`` collects the audit rows written with changes."""

    _entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    _versions: dict[tuple[str, str], list[TagVersion]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    audits: list[AuditRecord] = field(default_factory=list)

    async def get(self, tenant_id: str, name: str) -> StoredTag | None:
        """The live tag ``name`` of ``tenant_id``, or ``None``."""
        entry = self._entries.get((tenant_id, name))
        return entry.stored if entry is not None and not entry.deleted else None

    async def list(self, tenant_id: str, *, kind: TagKind | None = None) -> list[StoredTag]:
        """The tenant's live tags, by name (optionally of one kind)."""
        found = [
            e.stored for (tenant, _), e in self._entries.items()
            if tenant == tenant_id and not e.deleted
            and (kind is None or e.stored.tag.kind == kind)
        ]  # fmt: skip
        return sorted(found, key=lambda s: s.name)

    async def applicable(self, tenant_id: str) -> builtins.list[StoredTag]:
        """Live tags that may apply in ``tenant_id``, by owner tenant then name."""
        found = [e.stored for e in self._entries.values()
                 if not e.deleted and tenant_id in e.stored.scope]  # fmt: skip
        return sorted(found, key=lambda s: (s.tenant_id, s.name))

    async def put(
        self, tenant_id: str, tag: Tag, *, author: str, audit: AuditRecord | None = None
    ) -> TagChange:
        """Create or replace a tag; a new version unless it equals the live one."""
        async with self._lock:
            key = (tenant_id, tag.tag)
            body = tag.body()
            entry = self._entries.get(key)
            live = entry is not None and not entry.deleted
            if entry is not None and live and entry.body == body:
                return TagChange(entry.stored, changed=False, tenants=frozenset())
            if audit is not None:
                audit_values(audit)  # raises ValueError before anything is written
            now = datetime.now(UTC)
            version = (entry.version if entry is not None else 0) + 1
            stored = StoredTag(tenant_id, Tag.model_validate(body), version, now, author)
            old_scope = entry.stored.scope if entry is not None and live else frozenset()
            self._entries[key] = _Entry(version, body, stored)
            self._versions.setdefault(key, []).append(
                TagVersion(tenant_id, tag.tag, version, "put", body, author, now)
            )
            if audit is not None:
                self.audits.append(with_version(audit, version))
        return TagChange(stored, changed=True, tenants=old_scope | stored.scope, created=not live)

    async def delete(
        self, tenant_id: str, name: str, *, author: str, audit: AuditRecord | None = None
    ) -> TagChange:
        """Soft-delete a live tag.

        Raises:
            TagNotFoundError: No live tag of that name in the tenant.
        """
        async with self._lock:
            key = (tenant_id, name)
            entry = self._entries.get(key)
            if entry is None or entry.deleted:
                raise TagNotFoundError(f"no tag {name!r} in this tenant", details={"tag": name})
            if audit is not None:
                audit_values(audit)
            now = datetime.now(UTC)
            entry.version += 1
            entry.deleted = True
            self._versions[key].append(
                TagVersion(tenant_id, name, entry.version, "delete", entry.body, author, now)
            )
            if audit is not None:
                self.audits.append(with_version(audit, entry.version))
        return TagChange(entry.stored, changed=True, tenants=entry.stored.scope)

    async def versions(self, tenant_id: str, name: str) -> builtins.list[TagVersion]:
        """The tag's changes, oldest first.

        Raises:
            TagNotFoundError: The tenant never had a tag of that name.
        """
        found = self._versions.get((tenant_id, name))
        if not found:
            raise TagNotFoundError(f"no tag {name!r} in this tenant", details={"tag": name})
        return list(found)


__all__ = ["MemoryTagStore"]
