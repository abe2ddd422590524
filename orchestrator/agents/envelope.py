"""The envelopes an agent answers with, one per turn (DESIGN §17, seed ``004``).

Five kinds, a pydantic discriminated union on ``type``:

* ``tool``: one tool call (``name``, ``arguments``);
* ``tools``: several calls, run concurrently, their results sent back in one message;
* ``plan``: ordered steps (each a tool call), executed in order until one fails; or a flow to
  run (a flow tag, or a new flow the model proposes), as a job of its own;
* ``reply``: the final answer (``content``, ``citations``, ``code_language``), or, with ``ask``
  set, a question to the user (``ctx.ask``; the job waits and the worker is freed);
* ``error``: the agent gives up (``message``).

Every envelope has ``confidence`` (0-1) and ``reasoning``. The model gets the union as the input
schema of one tool named ``envelope`` (:func:`envelope_tool`), forced with ``tool_choice``, so
providers return envelopes natively as tool-use blocks.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

ENVELOPE_TOOL = "envelope"
"""The name of the one tool the engine offers (DESIGN §20)."""


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confidence: float = Field(ge=0, le=1, description="How sure the agent is, 0 to 1.")
    reasoning: str = Field(default="", max_length=4000, description="Why this envelope, briefly.")


class ToolCall(BaseModel):
    """One tool call: ``name`` is ``server/tool`` as listed to the agent."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolEnvelope(_Base):
    """Call one tool; its result comes back as the next message."""

    type: Literal["tool"]
    name: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolsEnvelope(_Base):
    """Call several tools concurrently; all results come back in one message."""

    type: Literal["tools"]
    calls: list[ToolCall] = Field(min_length=1, max_length=16)


class PlanStep(ToolCall):
    """A step of a plan: a tool call with what it is for."""

    description: str = Field(default="", max_length=1000)


class PlanEnvelope(_Base):
    """A plan, in one of three forms (exactly one is given):

    * ``steps``: ordered tool calls executed one after the other; execution stops at the first
      failing step and the model is told what ran and what failed (so it can adapt);
    * ``flow``: run a flow tag the user may run (DESIGN §18), with ``flow_inputs``;
    * ``flow_definition``: run a new flow the model proposes (DESIGN §20's flow format), with
      ``flow_inputs``; validated for the user (tag policy, the agent's tools) before any step
      runs, and shown to the user for approval when the agent's settings say so.

    A flow runs as a job of its own (the same runtime, pinned to the definition it started
    with); its result comes back as the envelope's result.
    """

    type: Literal["plan"]
    steps: list[PlanStep] = Field(
        default_factory=list, max_length=32, description="Ordered tool steps."
    )
    flow: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="The name of a flow tag to run (one of the flows you may run).",
    )  # fmt: skip
    flow_definition: dict[str, Any] | None = Field(
        default=None,
        description='A new flow to run: {"inputs": {NAME: JSON Schema}, "steps": [{"name", '
        '"tool": "server/tool" | "prompt": "..." | "ask": {"prompt", "schema"}, "arguments", '
        '"depends_on", "map_over"}], "output": STEP}; Jinja2 templates over inputs.NAME and '
        "steps.NAME.output.",
    )
    flow_inputs: dict[str, Any] = Field(
        default_factory=dict, description="The inputs of the flow or flow_definition."
    )

    @model_validator(mode="after")
    def _one_form(self) -> PlanEnvelope:
        given = [n for n, v in (("steps", self.steps), ("flow", self.flow),
                                ("flow_definition", self.flow_definition)) if v]  # fmt: skip
        if len(given) != 1:
            raise ValueError(
                "give exactly one of steps, flow or flow_definition"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class Citation(BaseModel):
    """A source of the answer: a tool result it comes from, or a URL."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=2000, description="Tool name (server/tool) or URL.")
    title: str | None = Field(default=None, max_length=500)
    snippet: str | None = Field(default=None, max_length=2000)


class ReplyEnvelope(_Base):
    """The final answer; with ``ask`` set, a question to the user instead (the run goes on
    with the answer as the next user message)."""

    type: Literal["reply"]
    content: str = Field(default="", max_length=200_000)
    citations: list[Citation] = Field(default_factory=list, max_length=100)
    code_language: str | None = Field(default=None, max_length=50)
    ask: str | None = Field(default=None, max_length=4000, description="A question for the user.")


class ErrorEnvelope(_Base):
    """The agent cannot do the task."""

    type: Literal["error"]
    message: str = Field(min_length=1, max_length=4000)


Envelope = Annotated[
    ToolEnvelope | ToolsEnvelope | PlanEnvelope | ReplyEnvelope | ErrorEnvelope,
    Field(discriminator="type"),
]
"""One turn's answer."""

ENVELOPE: TypeAdapter[Envelope] = TypeAdapter(Envelope)


class AgentOutput(BaseModel):
    """What a finished agent run returns (a task's ``result``)."""

    agent_name: str
    content: str
    code_language: str | None = None
    citations: list[Citation] = Field(default_factory=list)


def parse_envelope(data: Any) -> Envelope:
    """Validate one envelope.

    Raises:
        pydantic.ValidationError: Not an envelope (the engine tells the model its errors).
    """
    return ENVELOPE.validate_python(data)


def envelope_errors(exc: ValidationError) -> list[dict[str, str]]:
    """The validation errors as ``{"field", "message"}`` (what the model is told)."""
    return [{"field": "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()[:10]]  # fmt: skip


@functools.cache
def envelope_schema() -> dict[str, Any]:
    """The JSON Schema handed to the model: one object whose ``type`` picks the variant.

    Providers reject ``oneOf`` at the top of a tool's input schema (Anthropic's API does), so
    the variants' properties are merged into one object with ``type`` an enum; each property's
    description says which variant it belongs to. The engine validates the answer against the
    exact discriminated union (:func:`parse_envelope`) and re-asks with the errors. Built once
    per process (pydantic's schema generation costs milliseconds); do not mutate it.
    """
    full = ENVELOPE.json_schema()
    defs: dict[str, Any] = dict(full.get("$defs", {}))
    properties: dict[str, Any] = {}
    kinds: list[str] = []
    for ref in full["oneOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        variant = defs.pop(name)
        kind = variant["properties"]["type"]["const"]
        kinds.append(kind)
        for prop, spec in variant["properties"].items():
            if prop == "type":
                continue
            if prop in properties:
                properties[prop]["description"] += f", {kind}"
            else:
                text = spec.get("description", "")
                properties[prop] = {
                    **spec,
                    "description": f"{text} (envelope type: {kind}".lstrip(),
                }
    for spec in properties.values():
        spec["description"] += ")"
    return {
        "type": "object",
        "properties": {"type": {"type": "string", "enum": kinds}, **properties},
        "required": ["type", "confidence", "reasoning"],
        **({"$defs": defs} if defs else {}),
    }


def envelope_tool() -> dict[str, Any]:
    """The ``envelope`` tool offered to the model (DESIGN §20)."""
    return {
        "name": ENVELOPE_TOOL,
        "description": (
            "Answer this turn with exactly one envelope: type tool (one call: name, arguments), "
            "tools (several concurrent calls: calls), plan (ordered tool steps: steps; or a "
            "flow to run: flow or flow_definition, with flow_inputs), reply "
            "(the final answer: content, citations, code_language; or a question to the user in "
            "ask) or error (message). Always give confidence (0-1) and reasoning."
        ),
        "input_schema": envelope_schema(),
    }


FORCE_ENVELOPE = {"type": "tool", "name": ENVELOPE_TOOL}
"""``tool_choice`` forcing the envelope tool."""

__all__ = [
    "ENVELOPE",
    "ENVELOPE_TOOL",
    "FORCE_ENVELOPE",
    "AgentOutput",
    "Citation",
    "Envelope",
    "ErrorEnvelope",
    "PlanEnvelope",
    "PlanStep",
    "ReplyEnvelope",
    "ToolCall",
    "ToolEnvelope",
    "ToolsEnvelope",
    "envelope_errors",
    "envelope_schema",
    "envelope_tool",
    "parse_envelope",
]
