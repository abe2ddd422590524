"""Tag administration behind the API and the CLI: validate, write with its audit row, invalidate.

Tags belong to the caller's tenant (another tenant's tag is a 404). A change is one transaction
(the tag, its version, its audit row ``tag.put`` / ``tag.delete``), followed by a new generation
for every tenant whose policy it may change. A put equal to the live tag writes nothing.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import TagInvalidError, TagNotFoundError
from orchestrator.jobs.actor import Actor
from orchestrator.storable import find_unstorable
from orchestrator.tags.base import StoredTag, TagChange, TagStore, TagVersion
from orchestrator.tags.cache import TagCache
from orchestrator.tags.model import Tag, TagKind, parse_tag
from orchestrator.tags.policy import DEFAULT_TENANT
from orchestrator.trace.records import AuditRecord


def tenant_of(actor: Actor) -> str:
    """The tenant whose tags ``actor`` manages (``default`` when auth is off)."""
    return actor.tenant_id or DEFAULT_TENANT


class TagService:
    """Reads and changes one tenant's tags on behalf of an actor.

    Args:
        store: Where tags live.
        cache: Invalidated after every change.
        org_admin_tenants: Tenants whose tags may name other tenants in ``org_scope``
            (``ORCH_TAGS__ORG_ADMIN_TENANTS``); any other tenant's ``org_scope`` may name only
            itself, so no tenant can grant tools or add prompt text in another.
    """

    def __init__(
        self, store: TagStore, cache: TagCache, *, org_admin_tenants: Iterable[str] = ()
    ) -> None:
        self.store = store
        self.cache = cache
        self.org_admin_tenants = frozenset(org_admin_tenants)

    async def get(self, actor: Actor, name: str) -> StoredTag:
        """The live tag ``name`` of the actor's tenant.

        Raises:
            TagNotFoundError: None (also for another tenant's tag).
        """
        found = await self.store.get(tenant_of(actor), name)
        if found is None:
            raise TagNotFoundError(f"no tag {name!r} in this tenant", details={"tag": name})
        return found

    async def list(self, actor: Actor, *, kind: TagKind | None = None) -> list[StoredTag]:
        """The actor's tenant's live tags, by name."""
        return await self.store.list(tenant_of(actor), kind=kind)

    async def versions(self, actor: Actor, name: str) -> builtins.list[TagVersion]:
        """The history of ``name`` in the actor's tenant, oldest first.

        Raises:
            TagNotFoundError: The tenant never had that tag.
        """
        return await self.store.versions(tenant_of(actor), name)

    async def put(self, actor: Actor, name: str, body: Any) -> TagChange:
        """Validate ``body`` as tag ``name`` and store it (idempotent).

        Args:
            actor: Who writes (the author and audit actor).
            name: The tag's name (from the path).
            body: The tag as JSON; its ``tag`` may be omitted, else must equal ``name``.

        Returns:
            What changed (``changed=False``: the same tag was already live; no version, no audit).

        Raises:
            TagInvalidError: The body fails the schema (``details["field"]``), holds text or a
                number no store can keep (NUL, a lone surrogate, NaN), or ``org_scope``
                names another tenant and the actor's tenant is not an org admin tenant.
        """
        problems = find_unstorable({"tag": name, "body": body})
        if problems:  # PostgreSQL refuses NUL in text and JSON; a lone surrogate is no text
            first = problems[0]
            raise TagInvalidError(
                f"{first.path}: {first.message}",
                details={"field": first.path.removeprefix("body."), "type": first.type},
            )
        tag = parse_tag(body, name=name)
        tenant = tenant_of(actor)
        foreign = sorted(set(tag.payload.config.org_scope) - {tenant})
        if foreign and not actor.all_tenants and tenant not in self.org_admin_tenants:
            raise TagInvalidError(
                "org_scope may name other tenants only in an org admin tenant "
                "(ORCH_TAGS__ORG_ADMIN_TENANTS)",
                details={"field": "payload.config.org_scope", "tenants": foreign[:20]},
            )
        change = await self.store.put(
            tenant, tag, author=actor.id, audit=self._audit(actor, "tag.put", tag.tag, tag)
        )
        if change.changed:
            await self.cache.invalidate(change.tenants)
        return change

    async def delete(self, actor: Actor, name: str) -> TagChange:
        """Soft-delete ``name`` in the actor's tenant.

        Raises:
            TagNotFoundError: No live tag of that name.
        """
        change = await self.store.delete(
            tenant_of(actor),
            name,
            author=actor.id,
            audit=self._audit(actor, "tag.delete", name, None),
        )
        await self.cache.invalidate(change.tenants)
        return change

    @staticmethod
    def _audit(actor: Actor, action: str, name: str, tag: Tag | None) -> AuditRecord:
        details: dict[str, Any] = {"tag": name}
        if tag is not None:
            details["kind"] = str(tag.kind)
        return AuditRecord(
            at=datetime.now(UTC), actor=actor.id, action=action, tenant_id=tenant_of(actor),
            details=details, request_id=actor.request_id, client_ip=actor.client_ip,
        )  # fmt: skip


__all__ = ["TagService", "tenant_of"]
