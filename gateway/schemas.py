"""Request and response bodies of the HTTP API (v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "v1"


class SubmitJob(BaseModel):
    """``POST /v1/jobs``."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(min_length=1, max_length=200, description="A registered workflow.")
    inputs: dict[str, Any] = Field(default_factory=dict, description="The workflow's inputs.")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class JobAccepted(BaseModel):
    """202 answer to a submit."""

    job_id: str
    status: str
    workflow: str
    created_at: datetime
    api_version: str = API_VERSION


class StepView(BaseModel):
    """A step of a job."""

    name: str
    status: str
    attempts: int
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    error: Any = None


class JobOut(BaseModel):
    """``GET /v1/jobs/{id}``."""

    job_id: str
    workflow: str
    status: str
    inputs: dict[str, Any]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: Any = None
    error: Any = None
    steps: list[StepView] = Field(default_factory=list)


class JobSummary(BaseModel):
    """An item of ``GET /v1/jobs``."""

    job_id: str
    workflow: str
    status: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobPage(BaseModel):
    """``GET /v1/jobs``."""

    items: list[JobSummary]
    total: int
    limit: int
    offset: int


class CancelAccepted(BaseModel):
    """202 answer to a cancel."""

    job_id: str
    status: str = Field(description="`cancelled` (had not started) or `cancelling`.")


class StepOutput(BaseModel):
    """``GET /v1/jobs/{id}/steps/{step}/output``."""

    job_id: str
    step: str
    output: Any


__all__ = [
    "API_VERSION",
    "CancelAccepted",
    "JobAccepted",
    "JobOut",
    "JobPage",
    "JobSummary",
    "StepOutput",
    "StepView",
    "SubmitJob",
]
