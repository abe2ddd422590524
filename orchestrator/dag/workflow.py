"""``workflow()``: collect a DAG from its sink steps, check it, and describe it (DESIGN §2)."""

from __future__ import annotations

import hashlib
import heapq
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from orchestrator.dag.binding import InputParam, StepBinding, bind_step
from orchestrator.dag.step import Step
from orchestrator.errors import DagError, InputValidationError
from orchestrator.types import JSONValue, StepName

WORKFLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
"""Names the HTTP API accepts (``gateway.schemas.NAME_PATTERN`` says the same)."""


class Workflow:
    """A named, checked DAG of steps.

    Attributes:
        name: The workflow's name, as submitted in ``POST /v1/jobs``.
        steps: ``{name: Step}`` in a topological order (dependencies first).
        deps: ``{name: [upstream names in depends_on order]}``.
        sinks: Steps no other step depends on; their outputs form the job's result.
        bindings: ``{name: StepBinding}``.
        input_model: The pydantic model validating the job's inputs.
        version: A fingerprint of the DAG's shape, options and code.
        concurrency: Most jobs of this workflow running at once (per concurrency key), or None.
        concurrency_key: Template of the key a limit applies to, e.g. ``"{tenant}"`` or
            ``"{customer_id}"`` (an input); ``None`` means one limit for the whole workflow.
    """

    def __init__(
        self,
        name: str,
        steps: list[Step],
        deps: dict[StepName, list[StepName]],
        *,
        concurrency: int | None = None,
        concurrency_key: str | None = None,
    ) -> None:
        self.name = name
        self.concurrency = concurrency
        self.concurrency_key = concurrency_key
        order = _topological_order(steps, deps)
        self.steps: dict[StepName, Step] = {s.name: s for s in order}
        self.deps = deps
        depended = {d for ups in deps.values() for d in ups}
        self.sinks: list[StepName] = [n for n in self.steps if n not in depended]
        self.bindings: dict[StepName, StepBinding] = {
            s.name: bind_step(s, [self.steps[d] for d in deps[s.name]]) for s in order
        }
        self.input_model = _input_model(name, self.bindings)
        self.version = _fingerprint(self)

    @property
    def input_names(self) -> list[str]:
        """The workflow's input parameters, in the order steps declare them."""
        return [f.alias or n for n, f in self.input_model.model_fields.items()]

    def validate_inputs(self, inputs: Mapping[str, Any] | None) -> dict[str, JSONValue]:
        """Validate a job's inputs against the workflow's parameters.

        Args:
            inputs: ``{parameter: value}`` as submitted.

        Returns:
            The inputs as JSON values, only those given (steps apply their own defaults).

        Raises:
            InputValidationError: A missing, ill-typed or unknown input; ``details["errors"]``
                lists ``{"parameter", "type", "message"}`` for each.
        """
        try:
            model = self.input_model.model_validate(dict(inputs or {}))
        except ValidationError as exc:
            errors = [
                {
                    "parameter": ".".join(str(p) for p in err["loc"]) or None,
                    "type": err["type"],
                    "message": err["msg"],
                }
                for err in exc.errors(include_url=False, include_context=False)
            ]
            names = ", ".join(str(e["parameter"]) for e in errors)
            raise InputValidationError(
                f"invalid inputs for workflow {self.name!r}: {names}",
                details={"workflow": self.name, "errors": errors},
            ) from None
        return model.model_dump(mode="json", exclude_unset=True, by_alias=True)

    async def run_local(
        self, inputs: Mapping[str, Any] | None = None, *, answers: Any = None, **options: Any
    ) -> Any:
        """Run this workflow to its end in this process, with no Redis, database or gateway.

        The worker's own executor runs it on an in-memory state store: the same binding,
        ``parallel``, fan-out, retries, timeouts, streaming and ``ctx.ask`` as a deployed run.

        Args:
            inputs: The inputs by name (validated as a submit validates them).
            answers: Answers to ``ctx.ask``: ``{step: answer}`` or ``(step, prompt, schema) ->
                answer``; a question without one stops the run in ``waiting``.
            **options: ``settings`` and ``hooks`` (see ``worker.local.run_local``).

        Returns:
            A ``worker.local.LocalRun``: ``status``, ``result``, ``error``, ``events``,
            ``chunks``, ``outputs``, ``attempts``, ``questions``.

        Raises:
            InputValidationError: ``inputs_invalid``.
            AnswerValidationError: ``answer_invalid``.
        """
        from orchestrator.dag.local import local_runner

        return await local_runner()(self, inputs, answers=answers, **options)

    def describe(self) -> dict[str, Any]:
        """Return the DAG as JSON: nodes with options, edges, sinks, inputs schema, version."""
        return {
            "name": self.name,
            "version": self.version,
            "nodes": [{"name": n, **s.options()} for n, s in self.steps.items()],
            "edges": [{"from": d, "to": n} for n, ups in self.deps.items() for d in ups],
            "sinks": self.sinks,
            "inputs": self.input_model.model_json_schema(),
            "concurrency": self.concurrency,
            "concurrency_key": self.concurrency_key,
        }

    def __repr__(self) -> str:
        return f"<Workflow {self.name} steps={list(self.steps)}>"


def workflow(
    name: str,
    *steps: Step,
    concurrency: int | None = None,
    concurrency_key: str | None = None,
) -> Workflow:
    """Build a workflow from its sink step(s): they and all their ancestors form the DAG.

    Args:
        name: The workflow's name (an identifier-like string).
        *steps: One or more steps; every ancestor reachable through ``depends_on`` is included.
        concurrency: At most this many of its jobs run at once (per ``concurrency_key``); the
            others wait in the queue, they are not failed.
        concurrency_key: A template naming what the limit is per: ``"{tenant}"`` or an input,
            e.g. ``"{customer_id}"``.

    Returns:
        The checked :class:`Workflow`.

    Raises:
        DagError: A dependency that is not a step, an unknown step name, two steps of one name,
            a cycle, or a parameter binding error; ``details`` names the step and parameter.
    """
    if not isinstance(name, str) or not WORKFLOW_NAME.fullmatch(name):
        raise DagError(
            f"workflow name {name!r} must be 1-200 letters, digits or _.:- (starting with a "
            "letter or digit), as the HTTP API accepts",
            details={"workflow": name if isinstance(name, str) else repr(name), "parameter": "name"},
        )
    if not steps:
        raise DagError(f"workflow {name!r} has no steps", details={"workflow": name})
    if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
        raise DagError(
            f"workflow {name!r}: concurrency must be a positive int, got {concurrency!r}",
            details={"workflow": name, "parameter": "concurrency"},
        )
    if concurrency_key is not None and concurrency is None:
        raise DagError(
            f"workflow {name!r}: concurrency_key needs a concurrency limit",
            details={"workflow": name, "parameter": "concurrency_key"},
        )
    found: dict[StepName, Step] = {}
    pending: list[Step] = []
    for s in steps:
        if not isinstance(s, Step):
            raise DagError(
                f"workflow {name!r}: {s!r} is not a step (decorate it with @step)",
                details={"workflow": name, "parameter": "steps"},
            )
        pending.append(s)
    while pending:
        s = pending.pop()
        known = found.get(s.name)
        if known is s:
            continue
        if known is not None:
            raise DagError(
                f"workflow {name!r}: two different steps are named {s.name!r}",
                details={"workflow": name, "step": s.name, "parameter": "name"},
            )
        found[s.name] = s
        for dep in s.depends_on:
            if isinstance(dep, Step):
                pending.append(dep)
            elif not isinstance(dep, str):
                raise DagError(
                    f"step {s.name!r}: dependency {dep!r} is not a step",
                    details={"workflow": name, "step": s.name, "parameter": "depends_on"},
                )
    deps: dict[StepName, list[StepName]] = {}
    for s in found.values():
        names = [d.name if isinstance(d, Step) else d for d in s.depends_on]
        for dep_name in names:
            if dep_name not in found:
                raise DagError(
                    f"step {s.name!r}: dependency {dep_name!r} is not a step of workflow {name!r}",
                    details={"workflow": name, "step": s.name, "parameter": "depends_on"},
                )
        if len(set(names)) != len(names):
            raise DagError(
                f"step {s.name!r}: a dependency is listed twice",
                details={"workflow": name, "step": s.name, "parameter": "depends_on"},
            )
        deps[s.name] = names
    return Workflow(
        name, list(found.values()), deps, concurrency=concurrency, concurrency_key=concurrency_key
    )


def _topological_order(steps: list[Step], deps: dict[StepName, list[StepName]]) -> list[Step]:
    """Kahn's algorithm with a heap: of the ready steps, the earliest defined runs first.

    O((V + E) log V), so a workflow of thousands of steps is built in milliseconds.
    """
    by_name = {s.name: s for s in steps}
    key = _definition_key(by_name)
    waiting = {n: len(set(ups)) for n, ups in deps.items()}
    dependents: dict[StepName, list[StepName]] = {n: [] for n in deps}
    for n, ups in deps.items():
        for up in set(ups):
            dependents.setdefault(up, []).append(n)
    ready = [(key(n), n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[Step] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(by_name[n])
        del waiting[n]
        for m in dependents[n]:
            waiting[m] -= 1
            if waiting[m] == 0:
                heapq.heappush(ready, (key(m), m))
    if waiting:
        cycle = sorted(waiting)
        raise DagError(
            f"steps {cycle} form a cycle",
            details={"step": cycle[0], "parameter": "depends_on", "cycle": cycle},
        )
    return order


def _definition_key(by_name: Mapping[StepName, Step]) -> Callable[[StepName], tuple[str, int, str]]:
    def key(n: StepName) -> tuple[str, int, str]:
        fn = by_name[n].fn
        code = getattr(fn, "__code__", None)
        return (getattr(fn, "__module__", "") or "", code.co_firstlineno if code else 0, n)

    return key


def _input_model(name: str, bindings: Mapping[StepName, StepBinding]) -> type[BaseModel]:
    merged: dict[str, InputParam] = {}
    required: set[str] = set()
    for b in bindings.values():
        for p in b.input_params:
            seen = merged.get(p.name)
            if seen is not None and seen.annotation != p.annotation:
                raise DagError(
                    f"step {b.step.name!r}: input {p.name!r} is typed {p.annotation!r} here "
                    f"but {seen.annotation!r} in another step",
                    details={"step": b.step.name, "parameter": p.name},
                )
            merged.setdefault(p.name, p)
            if p.default is inspect.Parameter.empty:
                required.add(p.name)
    # Fields get neutral names and the parameter name as alias, so inputs called like pydantic's
    # own attributes (model_config, _private, ...) stay ordinary inputs.
    fields: dict[str, Any] = {}
    for i, (pname, p) in enumerate(merged.items()):
        annotation = Any if p.annotation is inspect.Parameter.empty else p.annotation
        default = ... if pname in required else p.default
        fields[f"input_{i}"] = (annotation, Field(default, alias=pname))
    model_name = "".join(part.title() for part in name.replace("-", "_").split("_")) + "Inputs"
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


def _fingerprint(wf: Workflow) -> str:
    h = hashlib.sha256(wf.name.encode())
    for n, s in wf.steps.items():
        h.update(n.encode())
        h.update(repr(sorted(s.options().items())).encode())
        h.update(repr(wf.deps[n]).encode())
        h.update(s.code_fingerprint.encode())
    return h.hexdigest()[:16]


__all__ = ["Workflow", "workflow"]
