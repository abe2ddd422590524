"""Compile a flow definition to the runtime's own DAG: :class:`Step` and :class:`Workflow` objects.

A compiled flow runs on the same executor as a Python workflow (checkpoints, retries, timeouts,
fan-out, ``ctx.ask`` waits, crash resume); nothing about it is interpreted elsewhere. Each flow
step becomes one :class:`~orchestrator.dag.step.Step` whose function has a keyword parameter per
upstream step (the runtime's binding fills it with that step's output) and one for the context.
A step's upstream steps are its ``depends_on`` plus every step its templates refer to. A
``map_over`` step gets a generated upstream step ``NAME__items`` that evaluates the expression,
and the runtime fans out over its list (instances ``NAME[0]``, ``NAME[1]``, …).

Compiled flows are memoised by the definition's digest: a worker compiles a flow once.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from orchestrator.dag.context import StepContext
from orchestrator.dag.step import Step
from orchestrator.dag.workflow import Workflow
from orchestrator.errors import DagError, InputValidationError
from orchestrator.flows.kinds import CTX_PARAM, FlowStepRuntime
from orchestrator.flows.model import FlowDefinition, FlowStep, parse_flow
from orchestrator.flows.templates import References, compile_template, compile_value
from orchestrator.types import JSONValue, StepName

FLOW_PREFIX = "flow:"
"""Jobs of flows are named ``flow:<tag>`` (a flow tag) or ``flow:inline`` (a proposed flow)."""


def canonical(definition: FlowDefinition) -> str:
    """The definition as canonical JSON (sorted keys): what is stored with a job and hashed."""
    data = definition.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class FlowWorkflow(Workflow):
    """A :class:`Workflow` compiled from a flow definition.

    Attributes:
        definition: The validated definition.
        source: Its canonical JSON (stored with each job: any worker can run it).
        tools: ``{step: "server/tool"}`` for the tool steps (what the policy checks).
        input_schema: The JSON Schema of the job's inputs (an object of the declared inputs).
    """

    def __init__(
        self,
        name: str,
        steps: list[Step],
        deps: dict[StepName, list[StepName]],
        definition: FlowDefinition,
        source: str,
    ) -> None:
        super().__init__(name, steps, deps)
        self.definition = definition
        self.source = source
        self.version = hashlib.sha256(source.encode()).hexdigest()[:16]
        if definition.output is not None:
            self.sinks = [definition.output]
        self.tools = {s.name: s.tool for s in definition.steps if s.tool is not None}
        self.input_schema: dict[str, Any] = {
            "type": "object",
            "properties": definition.inputs,
            "required": [n for n, s in definition.inputs.items() if "default" not in s],
            "additionalProperties": False,
        }

    @property
    def input_names(self) -> list[str]:
        """The flow's declared inputs."""
        return list(self.definition.inputs)

    def validate_inputs(self, inputs: Mapping[str, Any] | None) -> dict[str, JSONValue]:
        """Validate a job's inputs against the flow's JSON Schemas; apply their defaults.

        Raises:
            InputValidationError: ``details["errors"]`` lists ``{"parameter", "type",
                "message"}`` for each missing, ill-typed or unknown input.
        """
        given = dict(inputs or {})
        for name, schema in self.definition.inputs.items():
            if name not in given and "default" in schema:
                given[name] = schema["default"]
        errors = [
            {"parameter": ".".join(str(p) for p in e.absolute_path) or _missing(e.message),
             "type": str(e.validator), "message": e.message}
            for e in Draft202012Validator(self.input_schema).iter_errors(given)
        ]  # fmt: skip
        if errors:
            raise InputValidationError(
                f"invalid inputs for flow {self.name!r}: {errors[0]['message']}",
                details={"workflow": self.name, "errors": errors},
            )
        return given

    def describe(self) -> dict[str, Any]:
        """The DAG as :meth:`Workflow.describe`, with the inputs' schema and the definition."""
        out = super().describe()
        out["inputs"] = self.input_schema
        out["flow"] = json.loads(self.source)
        return out


def _missing(message: str) -> str:
    # jsonschema says "'repo' is a required property" with an empty path
    return message.split("'")[1] if message.count("'") >= 2 else ""


def compile_flow(definition: Any, *, name: str = "flow:inline") -> FlowWorkflow:
    """Validate and compile a flow definition (untrusted JSON or a :class:`FlowDefinition`).

    Args:
        definition: The flow (DESIGN §20's format).
        name: The workflow name its jobs carry (``flow:<tag>``).

    Returns:
        The compiled workflow (memoised by its canonical JSON).

    Raises:
        DagError: ``dag_invalid`` naming ``details["step"]`` and ``details["field"]``: a bad
            field, two steps of one name, an unknown dependency, a cycle, a template referring
            to a missing step or input, a template reaching Python internals, ``output`` naming
            no step.
    """
    parsed = definition if isinstance(definition, FlowDefinition) else parse_flow(definition)
    return _compile_cached(name, canonical(parsed))


def compile_stored(name: str, source: str) -> FlowWorkflow:
    """Compile the canonical JSON a job carries (:attr:`FlowWorkflow.source`), memoised by the
    text itself: a worker pays for one compile per flow version, then a dictionary lookup.

    Raises:
        DagError: The stored definition no longer compiles.
    """
    return _compile_cached(name, source)


@functools.lru_cache(maxsize=256)
def _compile_cached(name: str, source: str) -> FlowWorkflow:
    definition = FlowDefinition.model_validate(json.loads(source))
    return _compile(name, definition, source)


@dataclass(slots=True)
class _Node:
    runtime: FlowStepRuntime
    deps: list[str]


def _fail(step: str, field: str, message: str, **extra: Any) -> DagError:
    return DagError(f"step {step!r}: {field}: {message}",
                    details={"step": step, "field": field, "parameter": field, **extra})  # fmt: skip


def _compile(name: str, definition: FlowDefinition, source: str) -> FlowWorkflow:
    names: set[str] = set()
    for s in definition.steps:
        if s.name in names:
            raise _fail(s.name, "name", "two steps have this name")
        if "__" in s.name:
            raise _fail(s.name, "name", "'__' is reserved for generated steps")
        names.add(s.name)
    inputs = set(definition.inputs)
    nodes: dict[str, _Node] = {}
    generated: list[Step] = []
    deps: dict[StepName, list[StepName]] = {}
    for s in definition.steps:
        for dep in s.depends_on:
            if dep not in names:
                raise _fail(s.name, "depends_on", f"{dep!r} is not a step of the flow")
            if dep == s.name:
                raise _fail(s.name, "depends_on", "a step cannot depend on itself")
        node, items = _compile_step(s, names, inputs)
        if items is not None:
            generated.append(items[0])
            deps[items[0].name] = items[1]
        nodes[s.name] = node
        deps[s.name] = node.deps
    if definition.output is not None and definition.output not in names:
        raise DagError(f"output {definition.output!r} is not a step of the flow",
                       details={"field": "output", "parameter": "output"})  # fmt: skip
    steps = [_step_of(node, s) for s, node in zip(definition.steps, nodes.values(), strict=True)]
    try:
        return FlowWorkflow(name, [*generated, *steps], deps, definition, source)
    except DagError as exc:
        if "parameter" in exc.details and "field" not in exc.details:
            exc.details["field"] = exc.details["parameter"]
        raise


def _compile_step(
    s: FlowStep, names: set[str], inputs: set[str]
) -> tuple[_Node, tuple[Step, list[str]] | None]:
    refs = References()
    common: dict[str, Any] = {"step": s.name, "known_steps": names, "known_inputs": inputs,
                              "mapped": s.map_over is not None, "refs": refs}  # fmt: skip
    arguments = compile_value(s.arguments, where="arguments", **common)
    text = None
    if s.prompt is not None:
        text = compile_template(s.prompt, where="prompt", **common)
    elif s.ask is not None:
        text = compile_template(s.ask.prompt, where="ask.prompt", **common)
    system = None if s.system is None else compile_template(s.system, where="system", **common)
    items: tuple[Step, list[str]] | None = None
    items_name: str | None = None
    if s.map_over is not None:
        items_refs = References()
        expr = compile_template(s.map_over, **{**common, "where": "map_over", "mapped": False,
                                                "refs": items_refs})  # fmt: skip
        items_name = f"{s.name}__items"
        items_deps = sorted(items_refs.steps)
        items = (_items_step(items_name, expr, items_deps), items_deps)
    upstream = tuple(dict.fromkeys([*s.depends_on, *sorted(refs.steps)]))
    runtime = FlowStepRuntime(s, arguments, text, system, items_name, upstream)
    node_deps = [*upstream, *([items_name] if items_name else [])]
    return _Node(runtime, node_deps), items


def _function(name: str, params: list[str], body: Callable[..., Any], streams: bool) -> Any:
    if streams:

        async def gen(**kwargs: Any) -> Any:
            async for chunk in body(kwargs):
                yield chunk

        fn: Any = gen
    else:

        async def call(**kwargs: Any) -> Any:
            return await body(kwargs)

        fn = call
    kw = inspect.Parameter.KEYWORD_ONLY
    fn.__signature__ = inspect.Signature(
        [inspect.Parameter(CTX_PARAM, kw, annotation=StepContext),
         *(inspect.Parameter(p, kw) for p in params)]
    )  # fmt: skip
    fn.__annotations__ = {CTX_PARAM: StepContext}
    fn.__name__ = fn.__qualname__ = name
    return fn


def _items_step(name: str, expr: Any, upstream: list[str]) -> Step:
    async def items(kwargs: Mapping[str, Any]) -> Any:
        ctx: StepContext = kwargs[CTX_PARAM]
        variables = {"inputs": dict(ctx.inputs),
                     "steps": {n: {"output": kwargs.get(n)} for n in upstream}}  # fmt: skip
        return expr.render(variables)

    fn = _function(name, upstream, items, streams=False)
    return Step(fn, name=name, depends_on=upstream, parallel=True, streams=False, retries=0,
                retry_backoff_seconds=1.0, timeout_seconds=None, cache_ttl_seconds=None)  # fmt: skip


def _step_of(node: _Node, s: FlowStep) -> Step:
    runtime = node.runtime
    streams = s.kind == "prompt" and s.map_over is None
    body = runtime.stream if streams else runtime.run
    fn = _function(s.name, node.deps, body, streams)
    return Step(
        fn, name=s.name, depends_on=node.deps, parallel=s.parallel, streams=streams,
        retries=s.retries, retry_backoff_seconds=s.retry_backoff_seconds,
        timeout_seconds=s.timeout_seconds, cache_ttl_seconds=None,
        map_over=runtime.items_step, max_concurrency=s.max_concurrency,
    )  # fmt: skip


__all__ = ["FLOW_PREFIX", "FlowWorkflow", "canonical", "compile_flow", "compile_stored"]
