"""Flows: workflows defined as data (DESIGN §18, §20), compiled to the runtime's own DAG.

- :mod:`~orchestrator.flows.model`: the definition format (pydantic; JSON Schema).
- :mod:`~orchestrator.flows.templates`: sandboxed Jinja2 templates, checked at compile time.
- :mod:`~orchestrator.flows.kinds`: what tool, prompt and ask steps do (through ``ctx``).
- :mod:`~orchestrator.flows.compiler`: definition → :class:`~orchestrator.dag.workflow.Workflow`.
- :mod:`~orchestrator.flows.jobs`: the flow a job carries (stored in its state, pinned).
- :mod:`~orchestrator.flows.validate`: :func:`validate_flow_for` — compile and check an actor's
  tool policy before any step runs; the flows an actor may run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.flows.compiler import FLOW_PREFIX, FlowWorkflow, canonical, compile_flow
    from orchestrator.flows.model import (
        AskSpec,
        FlowDefinition,
        FlowStep,
        flow_json_schema,
        parse_flow,
    )

_LAZY = {
    "FLOW_PREFIX": "compiler", "FlowWorkflow": "compiler", "canonical": "compiler",
    "compile_flow": "compiler", "AskSpec": "model", "FlowDefinition": "model",
    "FlowStep": "model", "flow_json_schema": "model", "parse_flow": "model",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    # Imported on first use: a worker that runs no flow never imports Jinja2.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"orchestrator.flows.{module}"), name)

__all__ = [
    "FLOW_PREFIX",
    "AskSpec",
    "FlowDefinition",
    "FlowStep",
    "FlowWorkflow",
    "canonical",
    "compile_flow",
    "flow_json_schema",
    "parse_flow",
]
