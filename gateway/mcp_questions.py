"""A job's question as an MCP input request, and the client's answer back (``/mcp``).

MCP 2026-07-28's multi-round-trip requests: a ``tools/call`` whose job waits for input returns
an ``InputRequiredResult`` holding one form elicitation (the job's question) and a
``requestState``; the client asks its user, then sends the same ``tools/call`` again with the
answer in ``inputResponses`` and the state echoed. The state is not trusted: it names the job
and the last event seen, and the answer goes through the same check as ``POST
/v1/jobs/{id}/input`` (the caller must see the job; the answer is validated against the
question's schema).

Form elicitation takes a flat object of primitive properties (strings, numbers, booleans,
string lists). A question whose schema is such an object is asked as it is; any other schema is
asked as one property ``answer``: of the schema's own type when it is primitive or a list of
strings, else a string holding JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import mcp_types as types

ANSWER = "answer"
"""The key of the one input request, and of the wrapping property."""

_PRIMITIVE = {"string", "integer", "number", "boolean"}


def _flat(schema: Any) -> bool:
    """A property schema form elicitation can render."""
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind in _PRIMITIVE:
        return True
    items = schema.get("items")
    return kind == "array" and isinstance(items, dict) and items.get("type") == "string"


def form_of(schema: Any) -> tuple[dict[str, Any], bool, bool]:
    """The elicitation schema asking for an answer to ``schema``; whether it wraps it in one
    ``answer`` property (then the answer is that property's value); and whether that property
    is JSON text (a schema form elicitation cannot render)."""
    if (isinstance(schema, dict) and schema.get("type") == "object"
            and isinstance(schema.get("properties"), dict) and schema["properties"]
            and all(_flat(p) for p in schema["properties"].values())):  # fmt: skip
        form = {"type": "object", "properties": schema["properties"]}
        if schema.get("required"):
            form["required"] = list(schema["required"])
        return form, False, False
    raw = not _flat(schema)
    if raw:
        prop = {"type": "string", "description": "The answer as JSON"
                + (f", matching {json.dumps(schema)}" if schema else "")}  # fmt: skip
    else:
        prop = dict(schema)
    return {"type": "object", "properties": {ANSWER: prop}, "required": [ANSWER]}, True, raw


@dataclass(frozen=True, slots=True)
class Pending:
    """What the request state carries: the job, the last event the caller saw, the step asked."""

    job_id: str
    after: str
    step: str
    wrapped: bool
    raw: bool  # the wrapped property is JSON text

    def encode(self) -> str:
        return json.dumps({"job_id": self.job_id, "after": self.after, "step": self.step,
                           "wrapped": self.wrapped, "raw": self.raw})  # fmt: skip

    @classmethod
    def decode(cls, text: str) -> Pending | None:
        """The state a client echoed, or ``None`` when it is not one of ours."""
        try:
            data = json.loads(text)
            return cls(str(data["job_id"]), str(data["after"]), str(data["step"]),
                       bool(data["wrapped"]), bool(data["raw"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None


def input_required(job_id: str, after: str, question: dict[str, Any]) -> types.InputRequiredResult:
    """The result asking the client for the answer to ``question`` (``{"step", "prompt",
    "schema"}``, as a ``job.waiting`` event's ``data`` lists them)."""
    schema = question.get("schema") or {}
    form, wrapped, raw = form_of(schema)
    prompt = str(question.get("prompt") or "The job needs an answer.")
    request = types.ElicitRequest(
        params=types.ElicitRequestFormParams(message=prompt, requested_schema=form)
    )
    pending = Pending(job_id, after, str(question.get("step") or ""), wrapped, raw)
    return types.InputRequiredResult(input_requests={ANSWER: request},
                                     request_state=pending.encode())  # fmt: skip


def answer_of(pending: Pending, responses: Any) -> tuple[str, Any]:
    """The client's response: ``("accept", answer)``, or ``(action, None)`` for ``decline`` /
    ``cancel`` (or a response that is not an elicitation result: ``("missing", None)``)."""
    result = (responses or {}).get(ANSWER)
    if not isinstance(result, types.ElicitResult):
        try:
            result = types.ElicitResult.model_validate(result)
        except ValueError:
            return "missing", None
    if result.action != "accept":
        return result.action, None
    content = dict(result.content or {})
    if not pending.wrapped:
        return "accept", content
    value = content.get(ANSWER)
    if pending.raw and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass  # a plain string: the schema check decides
    return "accept", value


__all__ = ["ANSWER", "Pending", "answer_of", "form_of", "input_required"]
