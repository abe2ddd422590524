"""What step authors import: ``step``, ``workflow``, ``StepContext``, ``Retry``, ``DagError``, ``Client``.

Example (DESIGN §2)::

    from sdk import step, workflow, StepContext

    @step(parallel=True)
    async def fetch_context(doc_id: str) -> str: ...

    company_brief = workflow("company_brief", fetch_context)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.dag.context import StepContext
from orchestrator.dag.step import Step, step
from orchestrator.dag.workflow import Workflow, workflow
from orchestrator.errors import DagError, Retry

if TYPE_CHECKING:
    from sdk._client import Client

__all__ = ["Client", "DagError", "Retry", "Step", "StepContext", "Workflow", "step", "workflow"]


def __getattr__(name: str) -> Any:
    # The HTTP client pulls in httpx; step code (and the worker) should not pay for it.
    if name == "Client":
        from sdk._client import Client

        return Client
    raise AttributeError(f"module 'sdk' has no attribute {name!r}")
