"""Flow templates: Jinja2's :class:`~jinja2.sandbox.SandboxedEnvironment`, never ``eval``.

A template sees ``inputs`` (the job's inputs), ``steps`` (``steps.NAME.output``: an upstream
step's output) and, in a ``map_over`` step, ``item``. Undefined names fail (``StrictUndefined``).
A string that is exactly one ``{{ expression }}`` evaluates to the expression's value with its
JSON type (a list stays a list, a number a number); any other string renders to a string.

Checked once, when a flow is compiled (:func:`compile_template`): the syntax, names other than
the three above, references to steps or inputs that do not exist, and any attribute or key that
starts with ``_`` (``{{ ''.__class__ }}``), which the sandbox would refuse at run time anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, nodes
from jinja2.sandbox import SandboxedEnvironment

from orchestrator.errors import DagError, StepError

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_SINGLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)
ROOTS = frozenset({"inputs", "steps", "item"})
"""The names a template may use."""


@dataclass(slots=True)
class References:
    """What a flow's templates refer to."""

    steps: set[str] = field(default_factory=set)
    inputs: set[str] = field(default_factory=set)
    item: bool = False


class Template:
    """One compiled template string.

    Args:
        source: The template text.
        expression: Evaluate as one expression (keeps the value's type) instead of rendering.
    """

    __slots__ = ("_compiled", "expression", "source")

    def __init__(self, source: str, expression: bool, compiled: Any) -> None:
        self.source = source
        self.expression = expression
        self._compiled = compiled

    def render(self, context: Mapping[str, Any]) -> Any:
        """Evaluate against ``context`` (``inputs``, ``steps``, ``item``).

        Raises:
            StepError: ``template_error``: an undefined value, a refused attribute, a type error.
        """
        try:
            if self.expression:
                value = self._compiled(**context)
                if isinstance(value, Undefined):
                    str(value)  # StrictUndefined raises UndefinedError naming what is missing
                return value
            return self._compiled.render(**context)
        except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
            error = StepError(
                f"template {self.source[:200]!r} failed: {exc}",
                details={"template": self.source[:500], "error": type(exc).__name__},
            )
            error.code = "template_error"
            raise error from None


def _fail(step: str, where: str, why: str, source: str) -> DagError:
    return DagError(
        f"step {step!r}: {where}: {why}",
        details={"step": step, "field": where, "parameter": where, "template": source[:500]},
    )


def compile_template(
    source: str,
    *,
    step: str,
    where: str,
    known_steps: set[str],
    known_inputs: set[str],
    mapped: bool,
    refs: References,
) -> Template:
    """Compile and check one template, adding what it refers to to ``refs``.

    Args:
        source: The template text.
        step: The step it belongs to (for errors).
        where: The field, e.g. ``arguments.repo_path`` (for errors).
        known_steps: The flow's step names.
        known_inputs: The flow's input names.
        mapped: The step has ``map_over`` (``item`` is defined).
        refs: Collects the steps and inputs referred to.

    Raises:
        DagError: Bad syntax, an unknown name, a missing step or input, or an attribute or key
            reaching Python internals (``_``-prefixed); names the step and the field.
    """
    match = _SINGLE.fullmatch(source)
    expression = match is not None and "{{" not in match["expr"] and "{%" not in match["expr"]
    try:
        text = "{{" + match["expr"] + "}}" if expression and match else source
        tree = _ENV.parse(text)
        compiled: Any = (
            _ENV.compile_expression(match["expr"], undefined_to_none=False)
            if expression and match
            else _ENV.from_string(source)
        )
    except TemplateError as exc:
        raise _fail(step, where, f"template syntax error: {exc}", source) from None
    # names the template itself binds ({% for f in ... %}, {% set %}) and Jinja's own globals
    local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    local |= {"loop", *_ENV.globals}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise _fail(step, where, f"attribute {node.attr!r} reaches Python internals", source)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
            if isinstance(key, str) and key.startswith("_"):
                raise _fail(step, where, f"key {key!r} reaches Python internals", source)
        if isinstance(node, nodes.Filter) and node.name == "attr":
            raise _fail(step, where, "the attr filter is not allowed", source)
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in local:
            if node.name not in ROOTS:
                raise _fail(step, where, f"unknown name {node.name!r} (use inputs., steps., "
                            "item)", source)  # fmt: skip
            if node.name == "item":
                if not mapped:
                    raise _fail(step, where, "item is defined only in a map_over step", source)
                refs.item = True
    for root, key in _references(tree):
        if root == "steps":
            if key not in known_steps:
                raise _fail(step, where, f"refers to the output of {key!r}, which is not a "
                            "step of the flow", source)  # fmt: skip
            if key == step:
                raise _fail(step, where, "refers to its own output", source)
            refs.steps.add(key)
        elif root == "inputs":
            if key not in known_inputs:
                raise _fail(step, where, f"refers to input {key!r}, which the flow does not "
                            "declare", source)  # fmt: skip
            refs.inputs.add(key)
    return Template(source, expression, compiled)


def _references(tree: nodes.Node) -> Iterator[tuple[str, str]]:
    """``(root, key)`` for every ``steps.KEY`` / ``steps['KEY']`` / ``inputs.KEY`` in ``tree``."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = getattr(node, "node", None)
        if not (isinstance(base, nodes.Name) and base.name in ("steps", "inputs")):
            continue
        if isinstance(node, nodes.Getattr):
            yield base.name, node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            if isinstance(node.arg.value, str):
                yield base.name, node.arg.value


def compile_value(value: Any, **kwargs: Any) -> Any:
    """Compile every string leaf of a JSON value (``arguments``) into a :class:`Template`.

    ``kwargs`` are those of :func:`compile_template`; ``where`` grows with each key/index.
    """
    where: str = kwargs.pop("where")
    if isinstance(value, str):
        return compile_template(value, where=where, **kwargs)
    if isinstance(value, Mapping):
        return {k: compile_value(v, where=f"{where}.{k}", **kwargs) for k, v in value.items()}
    if isinstance(value, list):
        return [compile_value(v, where=f"{where}.{i}", **kwargs) for i, v in enumerate(value)]
    return value


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render a value compiled by :func:`compile_value`."""
    if isinstance(value, Template):
        return value.render(context)
    if isinstance(value, Mapping):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context) for v in value]
    return value


__all__ = ["ROOTS", "References", "Template", "compile_template", "compile_value", "render_value"]
