"""The tag-store seam: where tags and their versions live (DESIGN §15).

Implementations: :class:`~orchestrator.tags.store.SqlTagStore` (PostgreSQL, and SQLite for
``make run``; tables ``tags`` and ``tag_versions``) and
:class:`~orchestrator.tags.memory.MemoryTagStore` (unit tests). One contract suite
(``tests/orchestrator/tags/test_store_contract.py``) runs against both.

Every change is one transaction that writes the tag, a new version row (author and time) and,
when given, its audit row: nothing is half-written. Deletes are soft: the tag disappears from
reads, its versions stay, and a later put revives it with the next version number. A put whose
tag equals the live one changes nothing (no version): applying the same file twice is idempotent.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from orchestrator.tags.model import Tag, TagKind
from orchestrator.trace.records import AuditRecord


@dataclass(frozen=True, slots=True)
class StoredTag:
    """A live tag as stored in one tenant.

    Attributes:
        tenant_id: The tenant that owns it (the writer's).
        tag: The tag.
        version: Its version, from 1; each change adds one.
        updated_at: When the current version was written (UTC).
        updated_by: Who wrote it (an actor id: ``key:<id>``, ``user:<sub>``, ``cli``).
    """

    tenant_id: str
    tag: Tag
    version: int
    updated_at: datetime
    updated_by: str

    @property
    def name(self) -> str:
        """The tag's name."""
        return self.tag.tag

    @property
    def scope(self) -> frozenset[str]:
        """The tenants the tag applies in: its ``org_scope``, or its own tenant when empty."""
        org = self.tag.payload.config.org_scope
        return frozenset(org) if org else frozenset({self.tenant_id})


@dataclass(frozen=True, slots=True)
class TagVersion:
    """One change of a tag.

    Attributes:
        tenant_id: The owning tenant.
        name: The tag's name.
        version: The version this change produced.
        action: ``put`` or ``delete``.
        body: The tag's JSON after a put; the last body before a delete.
        author: Who made the change.
        at: When (UTC).
    """

    tenant_id: str
    name: str
    version: int
    action: str
    body: dict[str, Any]
    author: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TagChange:
    """What a put or delete did.

    Attributes:
        stored: The tag after the change (for a delete: its last live state).
        changed: ``False`` when a put found the same tag already live (no version written).
        tenants: Every tenant whose effective policy may have changed (the old and the new
            scope): the caches to invalidate.
        created: The put created the tag (or revived a deleted one).
    """

    stored: StoredTag
    changed: bool
    tenants: frozenset[str]
    created: bool = False


def with_version(audit: AuditRecord, version: int) -> AuditRecord:
    """``audit`` with the version a change produced added to its details."""
    return replace(audit, details={**(audit.details or {}), "version": version})


class TagStore(Protocol):
    """Tags per tenant, with their history.

    Methods raise :class:`~orchestrator.errors.TraceError` when the database fails.
    """

    async def get(self, tenant_id: str, name: str) -> StoredTag | None:
        """The live tag ``name`` of ``tenant_id``, or ``None`` (never stored, or deleted)."""
        ...

    async def list(self, tenant_id: str, *, kind: TagKind | None = None) -> list[StoredTag]:
        """The tenant's live tags (optionally of one kind), by name."""
        ...

    async def applicable(self, tenant_id: str) -> builtins.list[StoredTag]:
        """Every live tag that may apply in ``tenant_id``: its own tags scoped to it, and other
        tenants' tags whose ``org_scope`` names it (by owner tenant, then name)."""
        ...

    async def put(
        self, tenant_id: str, tag: Tag, *, author: str, audit: AuditRecord | None = None
    ) -> TagChange:
        """Create or replace a tag; a new version unless it equals the live one.

        Args:
            tenant_id: The owning tenant.
            tag: The validated tag.
            author: Who writes it.
            audit: An audit row committed in the same transaction, only if a version is written;
                the new ``version`` is added to its details.

        Raises:
            ValueError: ``audit`` is malformed (naive datetime, ...); nothing was written.
        """
        ...

    async def delete(
        self, tenant_id: str, name: str, *, author: str, audit: AuditRecord | None = None
    ) -> TagChange:
        """Soft-delete a live tag (a new version with action ``delete``).

        Raises:
            TagNotFoundError: No live tag of that name in the tenant.
            ValueError: ``audit`` is malformed; nothing was written.
        """
        ...

    async def versions(self, tenant_id: str, name: str) -> builtins.list[TagVersion]:
        """The tag's changes, oldest first (also for a deleted tag).

        Raises:
            TagNotFoundError: The tenant never had a tag of that name.
        """
        ...


__all__ = ["StoredTag", "TagChange", "TagStore", "TagVersion", "with_version"]
