"""The DAG model: steps, workflows, parameter binding and the workflow registry (pure, no I/O)."""

from orchestrator.dag.binding import StepBinding
from orchestrator.dag.context import StepContext
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.dag.step import Step, StepKind, step
from orchestrator.dag.workflow import Workflow, workflow

__all__ = [
    "Step",
    "StepBinding",
    "StepContext",
    "StepKind",
    "Workflow",
    "WorkflowRegistry",
    "step",
    "workflow",
]
