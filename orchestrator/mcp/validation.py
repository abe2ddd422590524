"""Arguments checked against a tool's input schema before anything is sent (jsonschema)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import SchemaError, ValidationError

from orchestrator.errors import ToolArgumentsError


def _pointer(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        if missing:
            path.append(str(missing[0]))
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set((error.schema or {}).get("properties", {}))
        extra = sorted(str(k) for k in error.instance if k not in allowed)
        if extra:
            path.append(extra[0])
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


class SchemaCache:
    """Compiled validators by tool, rebuilt when a tool's schema changes."""

    def __init__(self) -> None:
        self._validators: dict[str, tuple[int, Any]] = {}

    def validate(self, tool: str, schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> None:
        """Check ``arguments`` against ``schema`` (the tool's ``inputSchema``).

        Raises:
            ToolArgumentsError: They fail it; ``details["field"]`` is the first failing field as
                a JSON pointer (``/max_count``), ``details["errors"]`` lists every failure.
        """
        key = id(schema)
        cached = self._validators.get(tool)
        if cached is None or cached[0] != key:
            cls = validators.validator_for(schema)
            try:
                cls.check_schema(schema)
                cached = (key, cls(schema))
            except SchemaError:  # a server's broken schema: do not block its calls on it
                cached = (key, None)
            self._validators[tool] = cached
        validator = cached[1]
        if validator is None:
            return
        errors = sorted(validator.iter_errors(dict(arguments)), key=lambda e: list(e.path))
        if not errors:
            return
        listed = [{"field": _pointer(e), "message": e.message[:300], "validator": e.validator}
                  for e in errors[:20]]  # fmt: skip
        raise ToolArgumentsError(
            f"arguments of {tool} fail its input schema at {listed[0]['field']}: "
            f"{listed[0]['message']}",
            details={"tool": tool, "field": listed[0]["field"], "errors": listed},
        )


__all__ = ["SchemaCache"]
