"""Rebuilding step attempts from a job's events (issue 11, defect 4): pure, no services."""

from __future__ import annotations

from typing import Any

from orchestrator.events import Event
from orchestrator.jobs.reconcile import attempts_from_events
from orchestrator.state.records import StepState


def ev(
    seq: int, type_: str, step: str | None = None, attempt: int | None = None, data: Any = None
) -> Event:
    return Event(
        id=f"{seq}-0",
        job_id="j",
        type=type_,
        step=step,
        attempt=attempt,
        seq=seq,
        ts=100.0 + seq,
        data=data,
    )


def summary(records: list[Any]) -> set[tuple[str, int, str, str | None]]:
    return {(r.step, r.attempt, r.status.value, (r.error or {}).get("code")) for r in records}


def test_a_succeeded_step_an_attempt_lost_with_its_worker_and_a_retried_one_are_rebuilt() -> None:
    events = [
        ev(1, "job.queued"),
        ev(2, "job.started", attempt=1, data={"worker": "w1"}),
        ev(3, "step.started", "a", 1),
        ev(4, "step.succeeded", "a", 1, {"duration_ms": 5.0, "output_bytes": 3}),
        ev(5, "step.started", "b", 1),
        ev(6, "job.started", attempt=2, data={"worker": "w2"}),
        ev(7, "step.started", "b", 2),
        ev(8, "step.retrying", "b", 2, {"error": {"code": "step_error"}}),
        ev(9, "step.started", "b", 3),
    ]
    records = attempts_from_events(
        "j", events, {"b": StepState(status="running", attempt=3)}, settled=False
    )
    assert summary(records) == {
        ("a", 1, "succeeded", None),
        ("b", 1, "failed", "worker_lost"),
        ("b", 2, "failed", "step_error"),
    }  # b's attempt 3 may still run: left out
    a = next(r for r in records if r.step == "a")
    assert a.worker_id == "w1" and a.duration_ms == 5.0 and a.output_bytes == 3
    lost = next(r for r in records if (r.step, r.attempt) == ("b", 1))
    assert lost.finished_at is not None and lost.finished_at.timestamp() == 106.0

    settled = attempts_from_events(
        "j", events, {"b": StepState(status="running", attempt=3)}, settled=True
    )
    assert ("b", 3, "failed", "worker_lost") in summary(settled)


def test_a_cancelled_step_takes_the_hash_status_and_a_waiting_one_is_left_alone() -> None:
    events = [
        ev(1, "job.started", attempt=1, data={"worker": "w1"}),
        ev(2, "step.started", "ask", 1),
        ev(3, "job.waiting", "ask"),
        ev(4, "job.started", attempt=2, data={"worker": "w1"}),
        ev(5, "step.started", "ask", 2),
        ev(6, "job.cancelled"),
    ]
    steps = {"ask": StepState(status="cancelled", attempt=2, finished_at=106.5)}
    records = attempts_from_events("j", events, steps, settled=True)
    assert summary(records) == {("ask", 2, "cancelled", None)}
