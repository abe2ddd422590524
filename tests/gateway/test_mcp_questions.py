"""A job's question as an MCP form elicitation, and the client's response as the answer."""

from __future__ import annotations

from mcp_types import ElicitResult

from gateway.mcp_questions import ANSWER, Pending, answer_of, form_of, input_required


def test_an_object_of_primitives_is_asked_as_it_is_anything_else_as_one_answer_property() -> None:
    approval = {"type": "object", "required": ["approved"], "additionalProperties": False,
                "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}}}  # fmt: skip
    assert form_of(approval) == ({"type": "object", "properties": approval["properties"],
                                  "required": ["approved"]}, False, False)  # fmt: skip
    zones = {"type": "array", "items": {"type": "string"}, "minItems": 1}
    assert form_of(zones) == ({"type": "object", "properties": {ANSWER: zones},
                               "required": [ANSWER]}, True, False)  # fmt: skip
    nested = {"type": "object", "properties": {"rows": {"type": "array"}}}
    form, wrapped, raw = form_of(nested)
    assert (wrapped, raw, form["properties"][ANSWER]["type"]) == (True, True, "string")
    assert form_of(None)[1:] == (True, True)  # any JSON value


def test_the_response_becomes_the_answer_and_the_state_round_trips() -> None:
    asked = input_required("job-1", "5-0", {"step": "s", "prompt": "Rows?",
                                             "schema": {"type": "object", "properties": {
                                                 "rows": {"type": "array"}}}})  # fmt: skip
    assert asked.input_requests is not None and asked.request_state is not None
    pending = Pending.decode(asked.request_state)
    assert pending == Pending("job-1", "5-0", "s", wrapped=True, raw=True)
    accepted = ElicitResult(action="accept", content={ANSWER: '{"rows": [1, 2]}'})
    assert answer_of(pending, {ANSWER: accepted}) == ("accept", {"rows": [1, 2]})
    assert answer_of(pending, {ANSWER: ElicitResult(action="decline")}) == ("decline", None)
    assert answer_of(pending, {}) == ("missing", None)
    assert Pending.decode("not json") is None and Pending.decode('{"job_id": 1}') is None
