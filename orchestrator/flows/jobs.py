"""The workflow a job runs: its stored flow definition, or a registered workflow by name."""

from __future__ import annotations

from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.dag.workflow import Workflow
from orchestrator.state.records import JobState


def workflow_of(registry: WorkflowRegistry, state: JobState) -> Workflow:
    """The workflow ``state``'s job runs.

    A flow job carries its definition (``state.flow``, canonical JSON written at submit): it is
    compiled here (memoised), so a worker runs it with no code deployed, and always the version
    the job was submitted with, whatever happened to the flow tag since.

    Raises:
        WorkflowNotFoundError: A Python workflow that is not registered in this process.
        DagError: A stored flow that no longer compiles (a newer format; not expected).
    """
    if state.flow:
        from orchestrator.flows.compiler import compile_stored  # Jinja2 only where flows run

        return compile_stored(state.workflow, state.flow)
    return registry.get(state.workflow)


__all__ = ["workflow_of"]
