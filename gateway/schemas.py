"""Request and response bodies of the HTTP API (v1)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.storable import text_problem

API_VERSION = "v1"

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
"""Workflow names a request may carry (a registered name always matches)."""
STEP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}(\[[0-9]{1,9}\])?$"
"""Step names a request may carry, with a fan-out instance's ``[i]``."""
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"
"""A tag's name (as ``orchestrator.tags.model.TAG_NAME_PATTERN``)."""


class SubmitJob(BaseModel):
    """``POST /v1/jobs``."""

    model_config = ConfigDict(extra="forbid")

    workflow: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=NAME_PATTERN,
        description="A registered workflow (or give `flow`).",
    )  # fmt: skip
    flow: str | dict[str, Any] | None = Field(
        default=None,
        description="A flow tag's name (its current version runs), or a flow definition "
        "(DESIGN §20's format) to run as given; validated for the caller's tool policy before "
        "any step runs.",
    )
    inputs: dict[str, Any] = Field(default_factory=dict, description="The workflow's inputs.")
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A repeated key (per tenant, within the idempotency window) returns the "
        "first job instead of creating one.",
    )
    priority: int = Field(default=0, ge=0, le=9, description="0-9; higher runs sooner.")
    version: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Pin the job to this workflow version (GET /v1/workflows shows it).",
    )

    @model_validator(mode="after")
    def _workflow_or_flow(self) -> SubmitJob:
        if (self.workflow is None) == (self.flow is None):
            raise ValueError("give exactly one of workflow and flow")
        if isinstance(self.flow, str) and not re.fullmatch(TAG_PATTERN, self.flow):
            raise ValueError("flow must be a flow tag's name or a flow definition object")
        return self


    @field_validator("idempotency_key", "version")
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        # Stored in PostgreSQL (no NUL) and in Redis key names (UTF-8: no lone surrogate).
        problem = None if value is None else text_problem(value)
        if problem == "nul":
            raise ValueError("must not contain a NUL character (\\u0000)")
        if problem == "surrogate":
            raise ValueError("must not contain a lone UTF-16 surrogate")
        return value


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
    questions: list[dict[str, Any]] = Field(
        default_factory=list, description="Open questions of a waiting job (step, prompt, schema)."
    )
    blocked: str | None = Field(
        default=None, description="Why no worker runs the queued job (e.g. a version mismatch)."
    )
    version: str | None = Field(default=None, description="The workflow version it is pinned to.")
    usage: dict[str, Any] | None = Field(
        default=None,
        description="LLM calls of the job (DESIGN §16): calls, input/output/cache-read/"
        "cache-write/total tokens, cost_usd, unpriced_calls, fallbacks, and the same per step; "
        "rows follow a call by up to a flush interval.",
    )


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


class AnswerBody(BaseModel):
    """``POST /v1/jobs/{id}/input``."""

    model_config = ConfigDict(extra="forbid")

    answer: Any = Field(description="The answer, matching the question's JSON schema.")
    step: str | None = Field(
        default=None, max_length=220, pattern=STEP_PATTERN,
        description="The asking step; optional if only one asks."
    )


class InputAccepted(BaseModel):
    """202 answer to an input."""

    job_id: str
    step: str
    status: str = "queued"


class RetryAccepted(BaseModel):
    """202 answer to a retry."""

    job_id: str
    status: str = "queued"
    steps: list[str] = Field(description="The steps that will run again.")


class StepOutput(BaseModel):
    """``GET /v1/jobs/{id}/steps/{step}/output``."""

    job_id: str
    step: str
    output: Any


__all__ = [
    "API_VERSION",
    "NAME_PATTERN",
    "STEP_PATTERN",
    "AnswerBody",
    "CancelAccepted",
    "InputAccepted",
    "JobAccepted",
    "JobOut",
    "JobPage",
    "JobSummary",
    "RetryAccepted",
    "StepOutput",
    "StepView",
    "SubmitJob",
]
