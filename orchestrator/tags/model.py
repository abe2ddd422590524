"""The Tag model of DESIGN §15, in pydantic (so it has a JSON Schema: :func:`tag_json_schema`).

A tag is one entry of the store that drives both tool access and prompt content::

    Tag{tag, kind: flow|tool|role|function|company,
        payload{meta{title, description, owner},
                config{assigned_users, assigned_roles, org_scope, intents,
                       allowed_tools, denied_tools, tool_scopes},
                content}}

- Tool patterns are ``server/tool`` globs (:mod:`fnmatch` style: ``*`` any run of characters,
  ``?`` one character), e.g. ``git/*``, ``*/read_*``, ``time/get_current_time``. A pattern without
  exactly one ``/`` or with other characters than letters, digits, ``_ . - * ?`` is invalid.
- ``tool_scopes`` maps a tool pattern to a JSON Schema (draft 2020-12) the call's arguments must
  also satisfy, e.g. ``{"git/git_log": {"properties": {"max_count": {"maximum": 5}}}}``; a schema
  that is not valid against the meta-schema is invalid.
- ``intents`` (this project's addition): which intents a tag applies to (see
  :func:`applies_to_intent`).

:func:`parse_tag` turns untrusted JSON into a :class:`Tag` or raises
:class:`~orchestrator.errors.TagInvalidError` naming the first bad field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Annotated, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from orchestrator.errors import TagInvalidError

TAG_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"
"""A tag's name: what ``/v1/tags/{tag}`` and the CLI take (no ``/``, no spaces, ≤ 200)."""

_TOOL_PATTERN = re.compile(r"^[A-Za-z0-9_.*?-]+/[A-Za-z0-9_.*?-]+$")
MAX_LIST_ITEMS = 1000
"""Longest list in a tag's config (users, roles, tenants, patterns, intents)."""


class TagKind(StrEnum):
    """What a tag is about; also the order of prompt assembly (company, role, function, flow)."""

    COMPANY = "company"
    ROLE = "role"
    FUNCTION = "function"
    FLOW = "flow"
    TOOL = "tool"


PROMPT_ORDER: tuple[TagKind, ...] = (TagKind.COMPANY, TagKind.ROLE, TagKind.FUNCTION, TagKind.FLOW)
"""The fixed order in which tags' ``content`` is assembled into the system prompt (DESIGN §15);
``tool`` tags carry permissions only and add no prompt text."""

INTENT_BOUND_KINDS = frozenset({TagKind.FUNCTION, TagKind.FLOW})
"""Kinds that apply only to the intents they name (their own name, or ``config.intents``)."""


def check_tool_pattern(value: str) -> str:
    """Validate a ``server/tool`` glob.

    Raises:
        ValueError: ``value`` has no ``/``, more than one, an empty side, or other characters than
            letters, digits, ``_ . - * ?``.
    """
    if not _TOOL_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a tool pattern: expected server/tool, each side letters, digits, "
            "_ . - and the globs * ?"
        )
    return value


def check_json_schema(value: dict[str, Any]) -> dict[str, Any]:
    """Validate a scope: a JSON Schema (draft 2020-12) against its meta-schema.

    Raises:
        ValueError: The schema is not valid (the meta-schema's message).
    """
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise ValueError(
            f"not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}"
        ) from None
    return value


ToolPattern = Annotated[str, Field(max_length=300), AfterValidator(check_tool_pattern)]
"""A ``server/tool`` glob."""


ScopeSchema = Annotated[dict[str, Any], AfterValidator(check_json_schema)]
"""A JSON Schema that a tool's arguments must satisfy."""

_Name = Annotated[str, Field(min_length=1, max_length=200)]


class TagMeta(BaseModel):
    """Who a tag is for and what it says; informational only."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=10_000)
    owner: str = Field(default="", max_length=200)


class TagConfig(BaseModel):
    """Who a tag applies to and what it grants, denies and constrains."""

    model_config = ConfigDict(extra="forbid")

    assigned_users: list[_Name] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS,
        description="User ids (a principal's subject: `user:<sub>`, `key:<id>`; a bare `<sub>` "
        "also matches `user:<sub>`); `*` is every user.",
    )  # fmt: skip
    assigned_roles: list[_Name] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS,
        description="Roles (`admin`, `operator`, `submitter`, `viewer`); `*` is every role.",
    )  # fmt: skip
    org_scope: list[_Name] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS,
        description="Tenant ids the tag applies in; empty: the tag's own tenant.",
    )  # fmt: skip
    intents: list[_Name] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS,
        description="Intents (globs) the tag applies to. function/flow tags: their own name and "
        "these (`*`: every intent); other kinds: empty means every intent.",
    )  # fmt: skip
    allowed_tools: list[ToolPattern] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    denied_tools: list[ToolPattern] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    tool_scopes: dict[ToolPattern, ScopeSchema] = Field(
        default_factory=dict, max_length=MAX_LIST_ITEMS,
        description="Tool pattern → JSON Schema its arguments must also satisfy.",
    )  # fmt: skip


class TagPayload(BaseModel):
    """A tag's body: metadata, rules and content."""

    model_config = ConfigDict(extra="forbid")

    meta: TagMeta = Field(default_factory=TagMeta)
    config: TagConfig = Field(default_factory=TagConfig)
    content: str | dict[str, Any] | None = Field(
        default=None,
        description="Prompt text (company, role, function, flow), or a flow definition (§18).",
    )


class Tag(BaseModel):
    """One tag (DESIGN §15)."""

    model_config = ConfigDict(extra="forbid")

    tag: str = Field(pattern=TAG_NAME_PATTERN, description="The tag's name, unique per tenant.")
    kind: TagKind
    payload: TagPayload = Field(default_factory=TagPayload)

    def body(self) -> dict[str, Any]:
        """The tag as canonical JSON (what is stored, compared and returned)."""
        return self.model_dump(mode="json")


def trusted_tag(body: Mapping[str, Any]) -> Tag:
    """A tag from JSON that :meth:`Tag.body` produced (the store's own rows), without validating
    it again: reading a tenant's thousand tags must not cost a thousand validations.

    Raises:
        KeyError, ValueError: ``body`` is not such JSON.
    """
    payload = body.get("payload") or {}
    return Tag.model_construct(
        tag=body["tag"], kind=TagKind(body["kind"]),
        payload=TagPayload.model_construct(
            meta=TagMeta.model_construct(**(payload.get("meta") or {})),
            config=TagConfig.model_construct(**(payload.get("config") or {})),
            content=payload.get("content"),
        ),
    )  # fmt: skip


def tag_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Tag` (for editors and GitOps repositories)."""
    return Tag.model_json_schema()


def parse_tag(data: Any, *, name: str | None = None) -> Tag:
    """Validate untrusted JSON as a tag.

    Args:
        data: The tag object; its ``tag`` may be omitted when ``name`` is given.
        name: The tag's name from the URL path (or the CLI); ``data["tag"]``, when present, must
            equal it.

    Returns:
        The tag.

    Raises:
        TagInvalidError: ``details["field"]`` names the first bad field as a dotted path (e.g.
            ``payload.config.tool_scopes.git/git_log``), ``details["errors"]`` lists them all.
    """
    if not isinstance(data, Mapping):
        raise TagInvalidError("a tag is a JSON object", details={"field": ""})
    body = dict(data)
    if name is not None:
        given = body.setdefault("tag", name)
        if given != name:
            raise TagInvalidError(
                "the body's tag differs from the path's",
                details={"field": "tag", "path": name, "body": str(given)[:200]},
            )
    try:
        tag = Tag.model_validate(body)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]), "type": err["type"],
             "message": err["msg"]}
            for err in exc.errors(include_url=False)
        ]  # fmt: skip
        raise TagInvalidError(
            f"the tag is invalid: {errors[0]['field']}: {errors[0]['message']}",
            details={"field": errors[0]["field"], "errors": errors},
        ) from None
    if tag.kind is TagKind.FLOW and isinstance(tag.payload.content, dict):
        check_flow_content(tag.payload.content)
    return tag


def check_flow_content(content: dict[str, Any]) -> None:
    """Validate a flow tag's ``content`` as a flow definition (DESIGN §18) by compiling it.

    Raises:
        TagInvalidError: ``details["field"]`` is the path in the tag (e.g.
            ``payload.content.steps.fetch.tool``), ``details["step"]`` the step, and
            ``details["flow_field"]`` the field within the step.
    """
    from orchestrator.errors import DagError
    from orchestrator.flows.compiler import compile_flow

    try:
        compile_flow(content)
    except DagError as exc:
        step = exc.details.get("step")
        inner = str(exc.details.get("field") or exc.details.get("parameter") or "")
        path = ".".join(p for p in ("payload.content", f"steps.{step}" if step else "", inner) if p)
        raise TagInvalidError(
            f"the flow is invalid: {exc.message}",
            details={"field": path, "step": step, "flow_field": inner, "flow_error": exc.details},
        ) from None


def applies_to_intent(tag: Tag, intent: str | None) -> bool:
    """Whether ``tag`` applies when the principal's intent is ``intent``.

    An intent is a free string naming what the user is doing (a workflow's name, an agent's
    intent, a flow tag's name). The rule:

    - ``function`` and ``flow`` tags are intent-bound: they apply when the intent equals the tag's
      name or matches one of ``config.intents`` (globs; ``*`` = every intent, also none).
    - Other kinds apply to every intent, unless ``config.intents`` is non-empty: then only to the
      matching ones.

    So an unknown intent (or none) gets only the intent-independent tags.
    """
    intents = tag.payload.config.intents
    if tag.kind in INTENT_BOUND_KINDS:
        if "*" in intents:
            return True
        if intent is None:
            return False
        return intent == tag.tag or any(fnmatchcase(intent, p) for p in intents)
    if not intents or "*" in intents:
        return True
    return intent is not None and any(fnmatchcase(intent, p) for p in intents)


__all__ = [
    "INTENT_BOUND_KINDS",
    "MAX_LIST_ITEMS",
    "PROMPT_ORDER",
    "TAG_NAME_PATTERN",
    "ScopeSchema",
    "Tag",
    "TagConfig",
    "TagKind",
    "TagMeta",
    "TagPayload",
    "ToolPattern",
    "applies_to_intent",
    "check_json_schema",
    "check_tool_pattern",
    "parse_tag",
    "tag_json_schema",
    "trusted_tag",
]
