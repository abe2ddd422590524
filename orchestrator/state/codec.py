"""Encoding of the job hash (``orch:job:{job_id}``): flat string fields, steps as ``s:<step>:<f>``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.serialization import loads
from orchestrator.state.records import JobState, StepState
from orchestrator.types import JobId, JobStatus, StepName


def step_field(step: StepName, name: str) -> str:
    """The hash field holding ``name`` (status, attempt, started_at, ...) of ``step``."""
    return f"s:{step}:{name}"


def question_field(step: StepName) -> str:
    """The hash field holding ``step``'s open question (JSON: index, prompt, schema)."""
    return f"q:{step}"


def answer_field(step: StepName, index: int) -> str:
    """The hash field holding the answer to ``step``'s ``index``-th question (JSON)."""
    return f"a:{step}:{index}"


def _num(v: str | None) -> float | None:
    return float(v) if v not in (None, "") else None


def decode_job(job_id: JobId, raw: Mapping[Any, Any]) -> JobState:
    """Build a :class:`JobState` from an HGETALL reply (bytes or str keys)."""
    h = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
    steps: dict[StepName, StepState] = {}
    questions = {k[2:]: loads(v) for k, v in h.items() if k.startswith("q:") and v}
    for key, value in h.items():
        if not key.startswith("s:"):
            continue
        name, _, attr = key[2:].rpartition(":")
        st = steps.setdefault(name, StepState())
        if attr == "status":
            st.status = value
        elif attr == "attempt":
            st.attempt = int(value)
        elif attr == "started_at":
            st.started_at = _num(value)
        elif attr == "finished_at":
            st.finished_at = _num(value)
        elif attr == "error":
            st.error = loads(value) if value else None
    return JobState(
        job_id=job_id,
        status=JobStatus(h.get("status", "queued")),
        workflow=h.get("workflow", ""),
        version=h.get("version", ""),
        inputs=loads(h["inputs"]) if h.get("inputs") else {},
        created_at=_num(h.get("created_at")),
        started_at=_num(h.get("started_at")),
        finished_at=_num(h.get("finished_at")),
        runs=int(h.get("runs") or 0),
        cancel_requested=h.get("cancel") == "1",
        arq_job_id=h.get("arq_job_id") or None,
        worker=h.get("worker") or None,
        result=loads(h["result"]) if h.get("result") else None,
        error=loads(h["error"]) if h.get("error") else None,
        trace=loads(h["trace"]) if h.get("trace") else {},
        steps=steps,
        questions=questions,
        blocked=h.get("blocked") or None,
        concurrency_key=h.get("concurrency_key", ""),
        tenant_id=h.get("tenant") or None,
        user_id=h.get("user") or None,
        role=h.get("role") or None,
        flow=h.get("flow", ""),
    )


__all__ = ["decode_job", "step_field"]
