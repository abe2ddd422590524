"""``/v1/tags``: the tenant's tags (DESIGN §15), for admins; every change audited.

``PUT /v1/tags/{tag}`` takes the Tag object (``tag`` in the body optional, must equal the path) and
answers 201 when it created (or revived) the tag, 200 otherwise; ``changed`` is ``false`` when the
same tag was already live (no version, no audit row: applying a file twice is idempotent). A body
failing the tag schema is a 422 ``tag_invalid`` whose ``details.field`` names the field; nothing is
written. Another tenant's tag is a 404 ``tag_not_found``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from gateway.auth import require
from gateway.deps import get_services
from orchestrator.auth import Permission
from orchestrator.jobs import Actor
from orchestrator.services import Services
from orchestrator.tags import StoredTag, TagKind, TagVersion
from orchestrator.tags.model import TAG_NAME_PATTERN, TagPayload

router = APIRouter(prefix="/v1/tags", tags=["tags"])

TagName = Annotated[str, Path(pattern=TAG_NAME_PATTERN, description="The tag's name.")]


class TagOut(BaseModel):
    """A live tag with its version."""

    tag: str
    kind: TagKind
    payload: TagPayload = Field(description="`{meta, config, content}` (docs/tags.md).")
    version: int
    updated_at: datetime
    updated_by: str
    tenant_id: str


class TagPutOut(TagOut):
    """``PUT /v1/tags/{tag}``."""

    changed: bool = Field(description="False when the same tag was already live.")


class TagList(BaseModel):
    """``GET /v1/tags``."""

    items: list[TagOut]


class TagVersionOut(BaseModel):
    """One change of a tag."""

    version: int
    action: str = Field(description="`put` or `delete`.")
    body: dict[str, Any] = Field(description="The tag after a put; the last body before a delete.")
    author: str
    at: datetime


class TagVersions(BaseModel):
    """``GET /v1/tags/{tag}/versions``, oldest first."""

    tag: str
    items: list[TagVersionOut]


class TagDeleted(BaseModel):
    """``DELETE /v1/tags/{tag}``."""

    tag: str
    deleted: bool
    version: int = Field(description="The version the tag had when it was deleted.")


def _out(stored: StoredTag) -> dict[str, Any]:
    body = stored.tag.body()
    return {"tag": body["tag"], "kind": body["kind"], "payload": body["payload"],
            "version": stored.version, "updated_at": stored.updated_at,
            "updated_by": stored.updated_by, "tenant_id": stored.tenant_id}  # fmt: skip


def _version(v: TagVersion) -> TagVersionOut:
    return TagVersionOut(version=v.version, action=v.action, body=v.body, author=v.author, at=v.at)


@router.get("", response_model=TagList)
async def list_tags(
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.TAG_READ))],
    kind: Annotated[TagKind | None, Query(description="Only tags of this kind.")] = None,
) -> TagList:
    """The tenant's live tags, by name."""
    found = await services.tags.service.list(actor, kind=kind)
    return TagList(items=[TagOut(**_out(s)) for s in found])


@router.get("/{tag}", response_model=TagOut, responses={404: {"description": "No such tag"}})
async def get_tag(
    tag: TagName,
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.TAG_READ))],
) -> TagOut:
    """One live tag."""
    return TagOut(**_out(await services.tags.service.get(actor, tag)))


TAG_BODY_SCHEMA = {
    "type": "object",
    "description": "A Tag (docs/tags.md); `tag` is optional and must equal the path.",
    "required": ["kind"],
    "additionalProperties": False,
    "properties": {
        "tag": {"type": "string", "pattern": TAG_NAME_PATTERN},
        "kind": {"$ref": "#/components/schemas/TagKind"},
        "payload": {"$ref": "#/components/schemas/TagPayload"},
    },
}
"""The documented request body (validated by :func:`~orchestrator.tags.model.parse_tag`, so that
every failure is ``tag_invalid`` naming its field rather than FastAPI's ``request_invalid``)."""


@router.put(
    "/{tag}", response_model=TagPutOut,
    responses={201: {"model": TagPutOut, "description": "Created (or revived)"},
               422: {"description": "tag_invalid: details.field names the field"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": TAG_BODY_SCHEMA}}}},
)  # fmt: skip
async def put_tag(
    tag: Annotated[str, Path(max_length=200, description="The tag's name.")],
    body: Annotated[dict[str, Any], Body(description="The Tag object (docs/tags.md).")],
    response: Response,
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.TAG_WRITE))],
) -> TagPutOut:
    """Create or replace a tag (a new version, audited as ``tag.put``), unless it is unchanged."""
    change = await services.tags.service.put(actor, tag, body)
    if change.created:
        response.status_code = 201
    return TagPutOut(**_out(change.stored), changed=change.changed)


@router.delete("/{tag}", response_model=TagDeleted,
               responses={404: {"description": "No such tag"}})  # fmt: skip
async def delete_tag(
    tag: TagName,
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.TAG_WRITE))],
) -> TagDeleted:
    """Soft-delete a tag (its versions stay; audited as ``tag.delete``)."""
    change = await services.tags.service.delete(actor, tag)
    return TagDeleted(tag=tag, deleted=True, version=change.stored.version)


@router.get("/{tag}/versions", response_model=TagVersions,
            responses={404: {"description": "The tenant never had this tag"}})  # fmt: skip
async def tag_versions(
    tag: TagName,
    services: Annotated[Services, Depends(get_services)],
    actor: Annotated[Actor, Depends(require(Permission.TAG_READ))],
) -> TagVersions:
    """Every change of a tag, oldest first, with author and time (also after a delete)."""
    found = await services.tags.service.versions(actor, tag)
    return TagVersions(tag=tag, items=[_version(v) for v in found])


__all__ = ["router"]
