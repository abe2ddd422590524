"""The Tag model: patterns, scopes, names, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import TagInvalidError
from orchestrator.tags import parse_tag, tag_json_schema
from orchestrator.tags.model import Tag, applies_to_intent


def body(**config: Any) -> dict[str, Any]:
    return {"kind": "role", "payload": {"config": config}}


def field_of(data: Any, name: str = "t") -> str:
    with pytest.raises(TagInvalidError) as caught:
        parse_tag(data, name=name)
    assert caught.value.code == "tag_invalid"
    return str(caught.value.details["field"])


def test_a_valid_tag_parses_with_its_name_from_the_path() -> None:
    tag = parse_tag(body(allowed_tools=["git/*", "*/read_?", "time/get_current_time"],
                         tool_scopes={"git/git_log": {"properties": {"max_count": {"maximum": 5}}}}),
                    name="readers")  # fmt: skip

    assert tag.tag == "readers"
    assert tag.payload.config.allowed_tools[0] == "git/*"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (body(allowed_tools=["git_log"]), "payload.config.allowed_tools.0"),
        (body(denied_tools=["ok/x", "a/b/c"]), "payload.config.denied_tools.1"),
        (body(allowed_tools=["git/ log"]), "payload.config.allowed_tools.0"),
        (body(tool_scopes={"nopattern": {}}), "payload.config.tool_scopes.nopattern.[key]"),
        (
            body(tool_scopes={"git/git_log": {"type": "no-such-type"}}),
            "payload.config.tool_scopes.git/git_log",
        ),
        (
            body(tool_scopes={"git/git_log": {"properties": {"n": {"maximum": "five"}}}}),
            "payload.config.tool_scopes.git/git_log",
        ),
        (body(assigned_roles="admin"), "payload.config.assigned_roles"),
        (body(unknown=1), "payload.config.unknown"),
        ({"kind": "wizard"}, "kind"),
        ({"payload": {}}, "kind"),
    ],
)
def test_a_bad_tag_is_tag_invalid_naming_the_field(data: dict[str, Any], field: str) -> None:
    assert field_of(data) == field


def test_a_body_tag_different_from_the_path_is_tag_invalid() -> None:
    assert field_of({"tag": "other", **body()}, name="mine") == "tag"


def test_a_bad_name_is_tag_invalid() -> None:
    assert field_of(body(), name="has space") == "tag"
    assert field_of(body(), name="x" * 201) == "tag"


def test_a_non_object_is_tag_invalid() -> None:
    assert field_of(["not", "an", "object"]) == ""


def test_the_model_has_a_json_schema() -> None:
    schema = tag_json_schema()

    assert schema["title"] == "Tag"
    assert set(schema["required"]) == {"tag", "kind"}


@pytest.mark.parametrize(
    ("kind", "intents", "intent", "applies"),
    [
        ("role", [], None, True),
        ("role", [], "anything", True),
        ("role", ["nightly"], "nightly", True),
        ("role", ["nightly"], "daily", False),
        ("function", [], "f", True),  # its own name
        ("function", [], "other", False),
        ("function", [], None, False),
        ("function", ["sum-*"], "sum-up", True),
        ("flow", ["*"], None, True),
    ],
)
def test_intents_select_tags(kind: str, intents: list[str], intent: str | None,
                             applies: bool) -> None:  # fmt: skip
    tag = Tag.model_validate(
        {"tag": "f", "kind": kind, "payload": {"config": {"intents": intents}}}
    )

    assert applies_to_intent(tag, intent) is applies
