"""HTML forms generated from JSON Schema, and form data read back into JSON values.

Supported: an object whose properties are ``string``, ``number``, ``integer``, ``boolean`` or
``enum`` (optionally wrapped as ``anyOf: [X, {"type": "null"}]``, as pydantic writes
``X | None``); any other property is a JSON textarea of its own; a schema of one of those
simple types is a single field; anything else is one JSON textarea. The values read back are
validated again by the service that takes them (``JobService.submit``, ``JobService.answer``,
with ``jsonschema``), so the form is a convenience, never the check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SIMPLE = ("string", "number", "integer", "boolean")
VALUE_FIELD = "__value__"
JSON_FIELD = "__json__"


@dataclass(slots=True)
class FormField:
    """One input of a generated form.

    Attributes:
        name: The property (or :data:`VALUE_FIELD` / :data:`JSON_FIELD`).
        kind: ``string``, ``number``, ``integer``, ``boolean``, ``enum`` or ``json``.
        label: The schema's ``title`` or the name.
        required: Listed in ``required``.
        default: The schema's default, rendered as the initial value (``""`` when none).
        description: The schema's ``description``.
        options: For ``enum``: ``[(form value, label)]``; form values are the JSON texts.
    """

    name: str
    kind: str
    label: str
    required: bool = False
    default: Any = ""
    description: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)


def _simple(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The non-null branch of ``anyOf: [X, null]``, or the schema itself."""
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            return {**branches[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
        return None
    return schema


def _field(name: str, schema: Mapping[str, Any], required: bool) -> FormField:
    label = str(schema.get("title") or name)
    description = str(schema.get("description") or "")
    default = schema.get("default", "")
    inner = _simple(schema)
    if inner is not None and "enum" in inner:
        options = [(json.dumps(v), str(v)) for v in inner["enum"]]
        return FormField(name, "enum", label, required, json.dumps(default)
                         if default != "" else "", description, options)  # fmt: skip
    if inner is not None and inner.get("type") in SIMPLE:
        return FormField(name, str(inner["type"]), label, required, default, description)
    shown = json.dumps(default, indent=2) if default != "" else ""
    return FormField(name, "json", label, required, shown, description)


def fields_for(schema: Mapping[str, Any] | None) -> list[FormField]:
    """The inputs of a form for ``schema`` (see the module docstring for what is supported)."""
    schema = schema or {}
    props = schema.get("properties")
    if schema.get("type", "object") == "object" and isinstance(props, Mapping):
        required = set(schema.get("required") or ())
        return [_field(n, s, n in required) for n, s in props.items()]
    inner = _simple(schema)
    if inner is not None and ("enum" in inner or inner.get("type") in SIMPLE):
        only = _field(VALUE_FIELD, schema, True)
        only.label = str(schema.get("title") or "Answer")
        return [only]
    return [FormField(JSON_FIELD, "json", "JSON", True)]


def read_form(fields: list[FormField], form: Mapping[str, Any]) -> tuple[Any, list[dict[str, str]]]:
    """Turn submitted form data into the JSON value the fields describe.

    Args:
        fields: What :func:`fields_for` returned for the schema.
        form: The submitted fields (strings).

    Returns:
        ``(value, errors)``; each error is ``{"field", "message"}`` for input that could not be
        converted (a number that is not one, JSON that does not parse). Schema rules
        (``minimum``, ``pattern``, ...) are left to the service's validation.
    """
    errors: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f.name)
        text = raw if isinstance(raw, str) else ""
        if f.kind == "boolean":
            out[f.name] = text in ("on", "true", "1")
            continue
        if text.strip() == "" and f.kind != "string":
            if f.required:
                errors.append({"field": f.name, "message": "required"})
            continue
        if text == "" and f.kind == "string" and not f.required:
            continue
        try:
            if f.kind == "integer":
                out[f.name] = int(text.strip())
            elif f.kind == "number":
                out[f.name] = float(text.strip())
            elif f.kind in ("enum", "json"):
                out[f.name] = json.loads(text)
            else:
                out[f.name] = text
        except ValueError:
            errors.append({"field": f.name, "message": f"not a valid {f.kind}"})
    if len(fields) == 1 and fields[0].name in (VALUE_FIELD, JSON_FIELD):
        return out.get(fields[0].name), errors
    return out, errors


__all__ = ["JSON_FIELD", "VALUE_FIELD", "FormField", "fields_for", "read_form"]
