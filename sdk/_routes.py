"""The API's routes as plain request descriptions, shared by the sync and the async client.

Each function returns a :class:`Call` (method, path, query, body and how to parse the answer);
the clients only send it. One table of routes, two transports, no duplicated logic (the
"sans-I/O" shape httpx and h11 use).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from sdk._models import (
    Answered,
    BatchAnswer,
    Cancelled,
    Job,
    JobPage,
    Retried,
    StepOutput,
    Submitted,
    Trace,
    WorkflowInfo,
)

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
"""The gateway's default address (``orchestrator gateway`` binds it)."""


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and the parser of its JSON answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: dict[str, Any] | None = None
    json: Any = None


def _seg(value: str) -> str:
    return quote(value, safe="")


def submit_body(
    workflow: str,
    inputs: Mapping[str, Any] | None,
    *,
    idempotency_key: str | None,
    priority: int | None,
    version: str | None,
) -> dict[str, Any]:
    """The body of ``POST /v1/jobs``."""
    body: dict[str, Any] = {"workflow": workflow, "inputs": dict(inputs or {})}
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    if priority is not None:
        body["priority"] = priority
    if version is not None:
        body["version"] = version
    return body


def submit(workflow: str, inputs: Mapping[str, Any] | None, **options: Any) -> Call[Submitted]:
    """``POST /v1/jobs``."""
    return Call(
        "POST", "/v1/jobs", Submitted.model_validate, json=submit_body(workflow, inputs, **options)
    )


def submit_batch(jobs: list[dict[str, Any]]) -> Call[list[BatchAnswer]]:
    """``POST /v1/jobs/batch``."""
    return Call(
        "POST", "/v1/jobs/batch",
        lambda body: [BatchAnswer.model_validate(item) for item in body["jobs"]],
        json={"jobs": jobs},
    )  # fmt: skip


def get(job_id: str) -> Call[Job]:
    """``GET /v1/jobs/{id}``."""
    return Call("GET", f"/v1/jobs/{_seg(job_id)}", Job.model_validate)


def list_jobs(
    *,
    status: str | None,
    workflow: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int,
    offset: int,
) -> Call[JobPage]:
    """``GET /v1/jobs``."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for name, value in (("status", status), ("workflow", workflow)):
        if value is not None:
            params[name] = value
    for name, when in (("created_after", created_after), ("created_before", created_before)):
        if when is not None:
            params[name] = when.isoformat()
    return Call("GET", "/v1/jobs", JobPage.model_validate, params=params)


def cancel(job_id: str, *, hard: bool) -> Call[Cancelled]:
    """``POST /v1/jobs/{id}/cancel``."""
    return Call(
        "POST",
        f"/v1/jobs/{_seg(job_id)}/cancel",
        Cancelled.model_validate,
        params={"hard": "true"} if hard else None,
    )


def retry(job_id: str) -> Call[Retried]:
    """``POST /v1/jobs/{id}/retry``."""
    return Call("POST", f"/v1/jobs/{_seg(job_id)}/retry", Retried.model_validate)


def answer(job_id: str, value: Any, *, step: str | None) -> Call[Answered]:
    """``POST /v1/jobs/{id}/input``."""
    body: dict[str, Any] = {"answer": value}
    if step is not None:
        body["step"] = step
    return Call("POST", f"/v1/jobs/{_seg(job_id)}/input", Answered.model_validate, json=body)


def trace(job_id: str) -> Call[Trace]:
    """``GET /v1/jobs/{id}/trace``."""
    return Call("GET", f"/v1/jobs/{_seg(job_id)}/trace", Trace.model_validate)


def step_output(job_id: str, step: str) -> Call[StepOutput]:
    """``GET /v1/jobs/{id}/steps/{step}/output``."""
    return Call(
        "GET", f"/v1/jobs/{_seg(job_id)}/steps/{_seg(step)}/output", StepOutput.model_validate
    )


def _workflows(body: Any) -> list[WorkflowInfo]:
    return [WorkflowInfo.model_validate(item) for item in body["items"]]


def workflows() -> Call[list[WorkflowInfo]]:
    """``GET /v1/workflows``."""
    return Call("GET", "/v1/workflows", _workflows)


def workflow(name: str) -> Call[WorkflowInfo]:
    """``GET /v1/workflows/{name}``."""
    return Call("GET", f"/v1/workflows/{_seg(name)}", WorkflowInfo.model_validate)


def events_path(job_id: str) -> str:
    """The SSE route of a job's events."""
    return f"/v1/jobs/{_seg(job_id)}/events"


__all__ = ["DEFAULT_URL", "Call", "submit_body"]
