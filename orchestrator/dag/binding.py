"""Parameter binding: which parameter of a step receives the context, an upstream output or an input.

The rules of DESIGN §2, checked once when ``workflow()`` is called:

1. a parameter annotated :class:`StepContext` gets the context;
2. upstream outputs fill the remaining parameters in ``depends_on`` order, where a parameter
   named exactly like an upstream step takes that step's output first;
3. what is left comes from the job's inputs by name; defaults apply.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from orchestrator.dag.context import StepContext
from orchestrator.dag.step import Step
from orchestrator.errors import DagError


@dataclass(frozen=True, slots=True)
class InputParam:
    """A step parameter filled from the job's inputs."""

    name: str
    annotation: Any  # for a map_over parameter: the list's type, ``list[element type]``
    default: Any  # inspect.Parameter.empty when required


@dataclass(slots=True)
class StepBinding:
    """How the executor calls one step.

    Attributes:
        context_params: Names of parameters receiving the :class:`StepContext`.
        upstream_params: ``{parameter: upstream step name}``.
        input_params: Parameters filled from the job's inputs.
        adapters: Pydantic adapters turning stored JSON into each annotated parameter's type.
    """

    step: Step
    context_params: list[str] = field(default_factory=list)
    upstream_params: dict[str, str] = field(default_factory=dict)
    input_params: list[InputParam] = field(default_factory=list)
    adapters: dict[str, TypeAdapter[Any]] = field(default_factory=dict)


def _hints(step: Step) -> dict[str, Any]:
    try:
        return typing.get_type_hints(step.fn)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        return dict(getattr(step.fn, "__annotations__", {}))


@functools.lru_cache(maxsize=1024)
def _shared_adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    """A pydantic adapter for ``annotation``, shared between parameters of the same type.

    Building one costs ~50 us; a join over 1,000 ``int`` outputs needs one, not 1,000.
    """
    try:
        return _shared_adapter(annotation)
    except TypeError:  # an unhashable annotation (e.g. Annotated with a list inside)
        return TypeAdapter(annotation)


def _is_plain(annotation: Any) -> bool:
    return annotation in (inspect.Parameter.empty, Any, object)


def bind_step(step: Step, upstream: list[Step]) -> StepBinding:
    """Bind ``step``'s parameters to its context, upstream outputs and inputs.

    Args:
        step: The step to bind.
        upstream: Its resolved dependencies, in ``depends_on`` order.

    Returns:
        The :class:`StepBinding` the executor uses to build the call's keyword arguments.

    Raises:
        DagError: A ``*args``/``**kwargs`` or positional-only parameter, or an upstream output
            with no parameter left to receive it; names the step and the parameter.
    """
    hints = _hints(step)
    binding = StepBinding(step=step)
    free: list[inspect.Parameter] = []
    for param in inspect.signature(step.fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise DagError(
                f"step {step.name!r}: parameter {param.name!r} must be a plain named parameter",
                details={"step": step.name, "parameter": param.name},
            )
        annotation = hints.get(param.name, param.annotation)
        if annotation is StepContext:
            binding.context_params.append(param.name)
        else:
            free.append(param)

    by_name = {p.name: p for p in free}
    taken: set[str] = set()
    unplaced: list[Step] = []
    for up in upstream:
        if up.name in by_name and up.name not in taken:
            binding.upstream_params[up.name] = up.name
            taken.add(up.name)
        else:
            unplaced.append(up)
    for up in unplaced:
        slot = next((p for p in free if p.name not in taken), None)
        if slot is None:
            raise DagError(
                f"step {step.name!r}: the output of {up.name!r} has no parameter to receive it",
                details={"step": step.name, "parameter": up.name, "upstream": up.name},
            )
        binding.upstream_params[slot.name] = up.name
        taken.add(slot.name)

    if step.map_over is not None and step.map_over in binding.context_params:
        raise DagError(
            f"step {step.name!r}: map_over names the StepContext parameter {step.map_over!r}",
            details={"step": step.name, "parameter": "map_over"},
        )
    for param in free:
        annotation = hints.get(param.name, param.annotation)
        if param.name not in taken:
            as_input = annotation
            if param.name == step.map_over:
                element = Any if _is_plain(annotation) else annotation
                as_input = list[element]  # type: ignore[valid-type]
            binding.input_params.append(InputParam(param.name, as_input, param.default))
        if not _is_plain(annotation):
            try:
                binding.adapters[param.name] = _adapter(annotation)
            except Exception as exc:
                raise DagError(
                    f"step {step.name!r}: parameter {param.name!r} has an unusable annotation "
                    f"{annotation!r}: {exc}",
                    details={"step": step.name, "parameter": param.name},
                ) from exc
    return binding


__all__ = ["InputParam", "StepBinding", "bind_step"]
