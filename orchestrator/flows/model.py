"""The flow definition format (DESIGN §18, §20): a workflow written as data.

::

    {"inputs": {NAME: JSON Schema},
     "steps": [{"name", "tool": "server/tool" | "prompt": "..." | "ask": {"prompt", "schema"},
                "arguments": {...}, "depends_on": [...], "parallel", "map_over", "retries",
                "timeout_seconds"}],
     "output": STEP}

Strings in ``arguments``, ``prompt``, ``system``, ``ask.prompt`` and ``map_over`` are sandboxed
Jinja2 templates over ``inputs.NAME``, ``steps.NAME.output`` and, in a ``map_over`` step,
``item`` (the element). :func:`parse_flow` turns untrusted JSON into a :class:`FlowDefinition`
or raises :class:`~orchestrator.errors.DagError` naming the step and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.errors import DagError

STEP_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
"""A flow step's name: an identifier (no leading ``_``; ``__`` is reserved for generated steps)."""

TOOL_NAME_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
MAX_STEPS = 200
"""The most steps one flow may have."""


def _check_schema(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    return value


class AskSpec(BaseModel):
    """An ``ask`` step: a question to the user, answered through the job's input API."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt: str = Field(min_length=1, max_length=10_000, description="The question (a template).")
    answer_schema: dict[str, Any] | None = Field(
        default=None, alias="schema", description="JSON Schema the answer must satisfy."
    )

    @field_validator("answer_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else _check_schema(value)


class FlowStep(BaseModel):
    """One step of a flow: exactly one of ``tool``, ``prompt`` and ``ask``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=STEP_NAME_PATTERN)
    tool: str | None = Field(default=None, pattern=TOOL_NAME_PATTERN, max_length=300,
                             description="`server/tool` called with `arguments`.")  # fmt: skip
    prompt: str | None = Field(default=None, min_length=1, max_length=100_000,
                               description="A user message (template) sent to the model.")  # fmt: skip
    ask: AskSpec | None = None
    arguments: dict[str, Any] = Field(default_factory=dict, description="Tool arguments; "
                                      "string leaves are templates.")  # fmt: skip
    system: str | None = Field(default=None, max_length=100_000,
                               description="prompt steps: a system prompt (template).")  # fmt: skip
    intent: str | None = Field(default=None, max_length=200, description="prompt steps: prepend "
                               "the tags' prompt content for this intent (ctx.prompt).")  # fmt: skip
    model: str | None = Field(
        default=None,
        max_length=200,
        description="prompt steps: `provider:model` (default: settings).",
    )
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    depends_on: list[str] = Field(default_factory=list, max_length=MAX_STEPS)
    parallel: bool = False
    map_over: str | None = Field(default=None, max_length=2_000, description="A template "
                                 "evaluating to a list: one instance per element (`item`).")  # fmt: skip
    max_concurrency: int | None = Field(default=None, ge=1, le=1000)
    retries: int = Field(default=0, ge=0, le=20)
    retry_backoff_seconds: float = Field(default=1.0, ge=0, le=3600)
    timeout_seconds: float | None = Field(default=None, gt=0, le=86_400)

    @property
    def kind(self) -> Literal["tool", "prompt", "ask"]:
        """Which of the three kinds the step is."""
        if self.tool is not None:
            return "tool"
        if self.prompt is not None:
            return "prompt"
        return "ask"

    @model_validator(mode="after")
    def _one_kind(self) -> FlowStep:
        given = [k for k in ("tool", "prompt", "ask") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a step has exactly one of tool, prompt, ask (got {given or 'none'})")
        if self.arguments and self.tool is None:
            raise ValueError("arguments apply only to a tool step")
        if self.max_concurrency is not None and self.map_over is None:
            raise ValueError("max_concurrency applies only to a step with map_over")
        return self


class FlowDefinition(BaseModel):
    """A flow: inputs (JSON Schemas), steps, and the step whose output is the result."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=10_000)
    inputs: dict[str, dict[str, Any]] = Field(default_factory=dict, max_length=100)
    steps: list[FlowStep] = Field(min_length=1, max_length=MAX_STEPS)
    output: str | None = Field(default=None, description="The step whose output is the job's "
                               "result (default: every sink step).")  # fmt: skip

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, schema in value.items():
            if not name.isidentifier():
                raise ValueError(f"input name {name!r} is not an identifier")
            _check_schema(schema)
        return value


def flow_json_schema() -> dict[str, Any]:
    """The JSON Schema of the flow format (for editors, and for an LLM proposing a flow)."""
    return FlowDefinition.model_json_schema(by_alias=True)


def parse_flow(data: Any) -> FlowDefinition:
    """Validate untrusted JSON as a flow definition.

    Args:
        data: The definition (a JSON object).

    Returns:
        The definition.

    Raises:
        DagError: ``dag_invalid``; ``details`` has ``step`` (its name, or its index when it has
            no valid name; absent for flow-level fields), ``field`` (e.g. ``tool``,
            ``ask.schema``, ``inputs.repo``) and ``errors`` (all problems found).
    """
    if not isinstance(data, Mapping):
        raise DagError("a flow is a JSON object", details={"field": ""})
    try:
        return FlowDefinition.model_validate(data)
    except ValidationError as exc:
        errors = [
            _locate(data, list(err["loc"]), err["msg"]) for err in exc.errors(include_url=False)
        ]
        first = errors[0]
        where = f"step {first['step']!r}: " if "step" in first else ""
        raise DagError(
            f"flow invalid: {where}{first['field'] or 'definition'}: {first['message']}",
            details={**first, "errors": errors},
        ) from None


def _locate(data: Mapping[str, Any], loc: list[Any], message: str) -> dict[str, Any]:
    out: dict[str, Any] = {"message": message}
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = data.get("steps")
        index = loc[1]
        raw = steps[index] if isinstance(steps, list) and index < len(steps) else None
        name = raw.get("name") if isinstance(raw, Mapping) else None
        out["step"] = name if isinstance(name, str) and name else str(index)
        out["field"] = ".".join(str(p) for p in loc[2:])
    else:
        out["field"] = ".".join(str(p) for p in loc)
    out["parameter"] = out["field"]  # the runtime DagErrors' key, for the same clients
    return out


__all__ = [
    "MAX_STEPS",
    "STEP_NAME_PATTERN",
    "AskSpec",
    "FlowDefinition",
    "FlowStep",
    "flow_json_schema",
    "parse_flow",
]
