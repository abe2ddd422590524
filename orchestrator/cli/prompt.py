"""Asking a person for a waiting job's answer, with prompts built from the question's JSON schema.

An object schema asks one prompt per property (booleans as yes/no, enums as choices, numbers
parsed, defaults offered); any other schema asks for the value itself; what the schema does not
describe (arrays, nested objects, no schema) is typed as JSON. Local ``$ref``s
(``#/$defs/...``, as pydantic writes them) are followed.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.prompt import Confirm, FloatPrompt, IntPrompt, Prompt


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 10:
        ref = str(schema["$ref"])
        if not ref.startswith("#/"):
            break
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema, seen = node, seen + 1
    if isinstance(schema, dict) and "allOf" in schema and len(schema["allOf"]) == 1:
        merged = {
            **_resolve(schema["allOf"][0], root),
            **{k: v for k, v in schema.items() if k != "allOf"},
        }
        return merged
    return schema if isinstance(schema, dict) else {}


def ask_value(
    label: str,
    schema: dict[str, Any],
    root: dict[str, Any],
    console: Console,
    *,
    required: bool = True,
) -> Any:
    """Prompt for one value of ``schema``; returns it typed (``None``: left empty, optional)."""
    schema = _resolve(schema, root)
    kind = schema.get("type")
    default = schema.get("default")
    title = label + (f" ({schema['description']})" if schema.get("description") else "")
    if "enum" in schema:
        choices = [str(c) for c in schema["enum"]]
        picked = Prompt.ask(
            title,
            choices=choices,
            console=console,
            default=None if default is None else str(default),
        )
        return next(c for c in schema["enum"] if str(c) == picked)
    if kind == "boolean":
        if default is None:
            return Confirm.ask(title, console=console)
        return Confirm.ask(title, console=console, default=bool(default))
    if kind in ("integer", "number"):
        prompt = IntPrompt if kind == "integer" else FloatPrompt
        if default is None:
            return prompt.ask(title, console=console)
        return prompt.ask(title, console=console, default=default)
    if kind == "string":
        if default is None and required:
            return Prompt.ask(title, console=console)
        text = Prompt.ask(title, console=console, default="" if default is None else str(default))
        return text if text != "" or required else None
    while True:
        if default is None and required:
            raw = Prompt.ask(f"{title} [dim](JSON)[/dim]", console=console)
        else:
            raw = Prompt.ask(
                f"{title} [dim](JSON)[/dim]",
                console=console,
                default="" if default is None else json.dumps(default),
            )
        if raw == "" and not required:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            if kind is None:
                return raw  # no schema: a plain word is a string answer
            console.print("[red]not valid JSON, try again[/red]")


def ask_answer(schema: dict[str, Any] | None, console: Console) -> Any:
    """Prompt for a whole answer matching ``schema`` (a JSON schema, or None for any JSON)."""
    root = schema or {}
    resolved = _resolve(root, root)
    if resolved.get("type") == "object" and isinstance(resolved.get("properties"), dict):
        required = set(resolved.get("required", []))
        answer: dict[str, Any] = {}
        for name, prop in resolved["properties"].items():
            value = ask_value(
                name,
                prop if isinstance(prop, dict) else {},
                root,
                console,
                required=name in required,
            )
            if value is not None or name in required:
                answer[name] = value
        return answer
    return ask_value("answer", resolved, root, console)


__all__ = ["ask_answer", "ask_value"]
