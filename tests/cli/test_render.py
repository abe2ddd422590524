"""How the CLI shows a job: the live picture folds events into rows; a blocked job says why."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from orchestrator.cli.live import JobPicture
from orchestrator.cli.prompt import _resolve
from orchestrator.cli.render import job_view
from sdk import Event, Job


def event(
    seq: int, kind: str, step: str | None = None, data: object = None, attempt: int | None = None
) -> Event:
    return Event(
        id=f"1-{seq}",
        job_id="j1",
        type=kind,
        step=step,
        attempt=attempt,
        seq=seq,
        ts=1700000000.0 + seq,
        data=data,
    )


def text_of(renderable: object) -> str:
    console = Console(width=120, record=True)
    console.print(renderable)
    return console.export_text()


def test_the_live_picture_has_one_row_per_step_and_the_streamed_text_below() -> None:
    picture = JobPicture("j1")
    for e in [
        event(1, "job.queued"),
        event(2, "job.started", attempt=1),
        event(3, "step.started", "fetch", attempt=1),
        event(4, "step.retrying", "fetch", {"reason": "boom", "delay_seconds": 1}, 1),
        event(5, "step.started", "fetch", attempt=2),
        event(6, "step.succeeded", "fetch", {"duration_ms": 12.0}, 2),
        event(7, "step.started", "render", attempt=1),
        event(8, "step.chunk", "render", "first paragraph\n", 1),
        event(9, "step.chunk", "render", "second paragraph\n", 1),
    ]:
        picture.apply(e)

    shown = text_of(picture.render())
    assert "job j1" in shown
    assert "fetch" in shown and "succeeded" in shown and "12 ms" in shown
    assert "render" in shown and "running" in shown
    assert shown.index("render") < shown.index("first paragraph") < shown.index("second")
    assert picture.steps["fetch"].attempt == 2
    assert picture.text() == "first paragraph\nsecond paragraph\n"


def test_a_blocked_event_is_one_line_saying_why_and_a_start_clears_it() -> None:
    picture = JobPicture("j1")
    picture.apply(event(1, "job.queued"))
    picture.apply(
        event(2, "job.blocked", data={"reason": "no worker has version v2", "version": "v2"})
    )

    lines = [line for line in text_of(picture.render()).splitlines() if "blocked" in line]
    assert lines == ['blocked: no worker has version v2 {"version": "v2"}']
    picture.apply(event(3, "job.started", attempt=1))
    assert "blocked" not in text_of(picture.render())


def test_jobs_get_shows_the_blocked_reason_and_the_open_question() -> None:
    job = Job.model_validate(
        {
            "job_id": "j1",
            "workflow": "w",
            "status": "waiting",
            "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            "blocked": "concurrency limit",
            "questions": [
                {"step": "review", "index": 0, "prompt": "Ship it?", "schema": {"type": "boolean"}}
            ],
            "steps": [{"name": "review", "status": "waiting", "attempts": 1}],
        }
    )

    shown = text_of(job_view(job))

    assert "blocked: concurrency limit" in shown
    assert "Ship it?" in shown and "question from review" in shown


def test_a_schema_reference_is_followed_when_prompting() -> None:
    schema = {
        "$defs": {"Kind": {"enum": ["a", "b"], "type": "string"}},
        "properties": {"kind": {"$ref": "#/$defs/Kind"}},
        "type": "object",
    }

    assert _resolve(schema["properties"]["kind"], schema) == {"enum": ["a", "b"], "type": "string"}
