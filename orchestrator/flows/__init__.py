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

from orchestrator.flows.compiler import FLOW_PREFIX, FlowWorkflow, canonical, compile_flow
from orchestrator.flows.model import AskSpec, FlowDefinition, FlowStep, flow_json_schema, parse_flow

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
