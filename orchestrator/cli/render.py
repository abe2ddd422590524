"""How jobs, steps, traces and events look in a terminal (rich)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Column, Table
from rich.text import Text

if TYPE_CHECKING:
    from sdk import Event, Job, JobPage, Trace

STATUS_STYLE = {
    "queued": "cyan",
    "pending": "dim",
    "running": "yellow",
    "waiting": "magenta",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "bright_black",
    "skipped": "dim",
    "cancelling": "bright_black",
}
BAR_WIDTH = 40


def status(text: str | None) -> Text:
    """A status word in its colour."""
    value = text or "-"
    return Text(value, style=STATUS_STYLE.get(value, ""))


def when(value: datetime | None) -> str:
    """A timestamp in local time, to the second."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def ms(value: float | None) -> str:
    """A duration in ms, or seconds above 10 s."""
    if value is None:
        return "-"
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.0f} ms"


def compact(value: Any, limit: int = 200) -> str:
    """JSON on one line, cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_text(error: Any) -> str:
    """An error object (``{"type", "message", ...}``) as one line."""
    if isinstance(error, dict):
        kind = error.get("type") or error.get("code") or "error"
        return f"{kind}: {error.get('message', '')}".strip()
    return "" if error is None else compact(error)


def job_list(page: JobPage) -> Table:
    """``jobs list``: one row per job."""
    table = Table(
        "job",
        "workflow",
        "status",
        "created",
        "duration",
        caption=f"{len(page.items)} of {page.total}",
        caption_justify="left",
    )
    for job in page.items:
        took = (
            (job.finished_at - (job.started_at or job.created_at)).total_seconds() * 1000
            if job.finished_at
            else None
        )
        table.add_row(job.job_id, job.workflow, status(job.status), when(job.created_at), ms(took))
    return table


def steps_table(job: Job) -> Table:
    """The steps of a job: status, attempts, duration, error."""
    table = Table("step", "status", "attempt", "duration", "error", expand=False)
    for s in job.steps:
        table.add_row(
            s.name, status(s.status), str(s.attempts or "-"), ms(s.duration_ms), error_text(s.error)
        )
    return table


def job_view(job: Job) -> RenderableType:
    """``jobs get``: the job's header, steps, questions, blocked reason and result."""
    head = Table.grid(padding=(0, 2))
    head.add_row("status", status(job.status))
    head.add_row(
        "workflow", f"{job.workflow}" + (f" (version {job.version})" if job.version else "")
    )
    head.add_row("created", when(job.created_at))
    head.add_row("started", when(job.started_at))
    head.add_row("finished", when(job.finished_at))
    if job.inputs:
        head.add_row("inputs", compact(job.inputs))
    parts: list[RenderableType] = [head, steps_table(job)]
    if job.blocked:
        parts.append(Text(f"blocked: {blocked_reason(job.blocked)}", style="yellow"))
    for q in job.questions:
        parts.append(question_view(q.step, q.prompt, q.json_schema))
    if job.error:
        parts.append(Text(f"error: {error_text(job.error)}", style="red"))
    if job.result is not None:
        parts.append(
            Panel(
                Syntax(json.dumps(job.result, indent=2, default=str, ensure_ascii=False), "json"),
                title="result",
                title_align="left",
            )
        )
    return Panel(Group(*parts), title=f"job {job.job_id}", title_align="left")


def blocked_reason(blocked: Any) -> str:
    """The ``blocked`` field or a ``job.blocked`` event's data as one line."""
    if isinstance(blocked, dict):
        rest = {k: v for k, v in blocked.items() if k != "reason"}
        return str(blocked.get("reason") or "") + (f" {compact(rest)}" if rest else "")
    return str(blocked)


def question_view(step: str | None, prompt: str, schema: Any) -> RenderableType:
    """A waiting job's question with the schema its answer must match."""
    body: list[RenderableType] = [Text(prompt or "(no prompt)", style="bold")]
    if schema:
        body.append(Syntax(json.dumps(schema, indent=2), "json"))
    return Panel(
        Group(*body),
        title=f"question from {step or '?'}",
        title_align="left",
        border_style="magenta",
    )


def waterfall(trace: Trace) -> RenderableType:
    """``jobs trace``: every attempt as a bar on the job's time axis."""
    total = trace.duration_ms or max(
        ((a.offset_ms or 0) + (a.duration_ms or 0) for a in trace.steps), default=0.0
    )
    table = Table(
        Column("step", no_wrap=True),
        "attempt",
        "status",
        "start",
        "duration",
        Column("timeline", min_width=BAR_WIDTH, no_wrap=True),
        Column("worker", max_width=24, overflow="ellipsis"),
        "error",
    )
    for a in trace.steps:
        start, took = a.offset_ms or 0.0, a.duration_ms or 0.0
        left = int(BAR_WIDTH * start / total) if total else 0
        width = max(1, int(BAR_WIDTH * took / total)) if total else 1
        bar = Text(" " * left) + Text(
            "█" * min(width, BAR_WIDTH - left or 1), style=STATUS_STYLE.get(a.status, "")
        )
        table.add_row(
            a.step,
            str(a.attempt),
            status(a.status),
            f"+{ms(start)}",
            ms(a.duration_ms),
            bar,
            a.worker_id or "-",
            error_text(a.error),
        )
    head = Text.assemble(
        ("job ", ""),
        (trace.job_id, "bold"),
        f"  {trace.workflow}  ",
        status(trace.status),
        f"  queue wait {ms(trace.queue_wait_ms)}  total {ms(trace.duration_ms)}",
        f"  trace {trace.trace_id}" if trace.trace_id else "",
        f"\n{trace.trace_url}" if trace.trace_url else "",
    )
    return Group(head, table)


def event_line(event: Event) -> Text:
    """``jobs events``: one line per event."""
    where = f"{event.step}#{event.attempt}" if event.step else ""
    return Text.assemble(
        (f"{event.seq:>4} ", "dim"),
        (datetime.fromtimestamp(event.ts).strftime("%H:%M:%S.%f")[:-3] + " ", "dim"),
        (f"{event.type:<15} ", STATUS_STYLE.get(event.type.split(".")[-1], "")),
        (f"{where} ", "bold"),
        compact(event.data) if event.data not in (None, {}) else "",
    )


__all__ = [
    "blocked_reason",
    "event_line",
    "job_list",
    "job_view",
    "question_view",
    "steps_table",
    "waterfall",
]
