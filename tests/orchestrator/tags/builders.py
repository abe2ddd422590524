"""Tag builders shared by the tag tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from orchestrator.tags import StoredTag, Tag

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def make_tag(
    name: str,
    kind: str = "role",
    *,
    users: Iterable[str] = (),
    roles: Iterable[str] = (),
    org: Iterable[str] = (),
    intents: Iterable[str] = (),
    allow: Iterable[str] = (),
    deny: Iterable[str] = (),
    scopes: dict[str, dict[str, Any]] | None = None,
    content: str | dict[str, Any] | None = None,
) -> Tag:
    """A tag from keyword arguments."""
    return Tag.model_validate({
        "tag": name, "kind": kind,
        "payload": {
            "meta": {"title": name},
            "config": {"assigned_users": list(users), "assigned_roles": list(roles),
                       "org_scope": list(org), "intents": list(intents),
                       "allowed_tools": list(allow), "denied_tools": list(deny),
                       "tool_scopes": scopes or {}},
            "content": content,
        },
    })  # fmt: skip


def stored(tag: Tag, tenant: str = "acme", version: int = 1) -> StoredTag:
    """``tag`` as stored in ``tenant``."""
    return StoredTag(tenant, tag, version, T0, "key:test")
