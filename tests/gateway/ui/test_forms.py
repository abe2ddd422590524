"""Forms generated from JSON Schema and read back into JSON values."""

from __future__ import annotations

from gateway.ui.forms import JSON_FIELD, VALUE_FIELD, fields_for, read_form
from tests.e2e.dashboard import flows

QUESTION = {
    "type": "object",
    "properties": {
        "reviewer": {"type": "string", "title": "Reviewer"},
        "approved": {"type": "boolean"},
        "level": {"enum": ["low", "high"]},
        "copies": {"type": "integer"},
        "ratio": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["reviewer", "level", "copies"],
}


def test_an_object_schema_gives_one_typed_field_per_property() -> None:
    fields = {f.name: f for f in fields_for(QUESTION)}
    assert [(n, f.kind, f.required) for n, f in fields.items()] == [
        ("reviewer", "string", True),
        ("approved", "boolean", False),
        ("level", "enum", True),
        ("copies", "integer", True),
        ("ratio", "number", False),
        ("tags", "json", False),
    ]
    assert fields["reviewer"].label == "Reviewer"
    assert fields["level"].options == [('"low"', "low"), ('"high"', "high")]


def test_form_data_is_read_back_into_typed_json() -> None:
    form = {
        "reviewer": "ana",
        "approved": "true",
        "level": '"high"',
        "copies": "2",
        "ratio": "0.5",
        "tags": '["a"]',
    }
    assert read_form(fields_for(QUESTION), form) == (
        {
            "reviewer": "ana",
            "approved": True,
            "level": "high",
            "copies": 2,
            "ratio": 0.5,
            "tags": ["a"],
        },
        [],
    )


def test_blank_optional_fields_are_left_out_and_an_unchecked_box_is_false() -> None:
    form = {"reviewer": "ana", "level": '"low"', "copies": "1", "ratio": "", "tags": ""}
    value, errors = read_form(fields_for(QUESTION), form)
    assert errors == [] and value == {
        "reviewer": "ana",
        "approved": False,
        "level": "low",
        "copies": 1,
    }


def test_unconvertible_input_is_reported_per_field() -> None:
    form = {"reviewer": "ana", "level": '"low"', "copies": "two", "tags": "[oops"}
    _, errors = read_form(fields_for(QUESTION), form)
    assert [e["field"] for e in errors] == ["copies", "tags"]
    _, errors = read_form(fields_for(QUESTION), {"reviewer": "x", "level": '"low"'})
    assert errors == [{"field": "copies", "message": "required"}]


def test_a_simple_schema_is_one_field_and_anything_else_a_json_textarea() -> None:
    [only] = fields_for({"type": "boolean"})
    assert (only.name, only.kind) == (VALUE_FIELD, "boolean")
    assert read_form([only], {VALUE_FIELD: "true"}) == (True, [])
    [any_json] = fields_for({"type": "array"})
    assert (any_json.name, any_json.kind) == (JSON_FIELD, "json")
    assert read_form([any_json], {JSON_FIELD: "[1, 2]"}) == ([1, 2], [])
    assert fields_for(None)[0].name == JSON_FIELD


def test_a_workflows_inputs_schema_gives_its_run_form_with_defaults() -> None:
    fields = {f.name: f for f in fields_for(flows.ui_brief.describe()["inputs"])}
    assert fields["count"].kind == "integer" and fields["count"].default == 3
    assert fields["topic"].required and not fields["count"].required
