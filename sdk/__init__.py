"""What step authors and API clients import.

Authoring (DESIGN §2): ``step``, ``workflow``, ``StepContext``, ``Retry``, ``DagError``,
``Step``, ``Workflow``::

    from sdk import step, workflow, StepContext

    @step(parallel=True)
    async def fetch_context(doc_id: str) -> str: ...

    company_brief = workflow("company_brief", fetch_context)

Calling a gateway: ``Client`` (blocking) and ``AsyncClient``, their typed answers (``Job``,
``JobStep``, ``JobPage``, ``Event``, ``Trace``, ``WorkflowInfo``, ``Submitted``) and errors
(``ApiError`` and its subclasses ``BadRequestError``, ``NotFoundError``, ``ConflictError``,
``TransportError``; match on ``.code``). They load lazily: step code (and the worker) does not
pay for httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orchestrator.dag.context import StepContext
from orchestrator.dag.step import Step, step
from orchestrator.dag.workflow import Workflow, workflow
from orchestrator.errors import DagError, Retry

if TYPE_CHECKING:
    from sdk._aclient import AsyncClient
    from sdk._client import Client
    from sdk._errors import (
        ApiError,
        BadRequestError,
        ConflictError,
        NotFoundError,
        TransportError,
    )
    from sdk._models import (
        BatchAnswer,
        Event,
        Job,
        JobPage,
        JobStep,
        Submitted,
        Trace,
        WorkflowInfo,
    )

_LAZY = {
    "Client": "sdk._client",
    "AsyncClient": "sdk._aclient",
    "ApiError": "sdk._errors",
    "BadRequestError": "sdk._errors",
    "ConflictError": "sdk._errors",
    "NotFoundError": "sdk._errors",
    "TransportError": "sdk._errors",
    "BatchAnswer": "sdk._models",
    "Event": "sdk._models",
    "Job": "sdk._models",
    "JobPage": "sdk._models",
    "JobStep": "sdk._models",
    "Submitted": "sdk._models",
    "Trace": "sdk._models",
    "WorkflowInfo": "sdk._models",
}

__all__ = [
    "ApiError",
    "AsyncClient",
    "BadRequestError",
    "BatchAnswer",
    "Client",
    "ConflictError",
    "DagError",
    "Event",
    "Job",
    "JobPage",
    "JobStep",
    "NotFoundError",
    "Retry",
    "Step",
    "StepContext",
    "Submitted",
    "Trace",
    "TransportError",
    "Workflow",
    "WorkflowInfo",
    "step",
    "workflow",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sdk' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
