"""Following a job in a terminal: a live view on a TTY, plain lines otherwise.

On a terminal (:class:`LiveView`): one row per step (status, attempt, duration) with the
streamed chunks below it, redrawn as events arrive; a ``job.waiting`` question is shown with
its schema and answered in place; a ``job.blocked`` event is one line saying why no worker runs
the job. At the end the streamed text goes to stdout in full and the final table to stderr.

Elsewhere (:func:`follow_plain`, pipes and tests): chunks raw on stdout as they arrive, status
lines on stderr, the question printed with the command that answers it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from orchestrator.cli.prompt import ask_answer
from orchestrator.cli.render import blocked_reason, compact, ms, question_view, status

if TYPE_CHECKING:
    from sdk import Client, Event

TAIL_LINES = 16
"""How many of the last streamed lines the live view shows under the steps."""
ANSWER_ATTEMPTS = 3


@dataclass
class _StepRow:
    status: str = "pending"
    attempt: int = 1
    started: float | None = None
    duration_ms: float | None = None
    note: str = ""


@dataclass
class JobPicture:
    """What the events said so far: the steps, the streamed text, the last notice."""

    job_id: str
    steps: dict[str, _StepRow] = field(default_factory=dict)
    streamed: dict[str, list[Any]] = field(default_factory=dict)
    notice: Text | None = None
    last: Event | None = None

    def apply(self, event: Event) -> None:
        """Fold one event into the picture."""
        self.last = event
        kind, data = event.type, event.data if isinstance(event.data, dict) else {}
        row = self.steps.setdefault(event.step, _StepRow()) if event.step else None
        if row is not None and event.attempt:
            row.attempt = event.attempt
        if kind == "step.started" and row is not None:
            row.status, row.started, row.note = "running", event.ts, ""
        elif kind == "step.chunk" and event.step:
            self.streamed.setdefault(event.step, []).append(event.data)
        elif kind == "step.progress" and row is not None:
            row.note = compact(event.data, 60)
        elif kind == "step.succeeded" and row is not None:
            row.status, row.duration_ms = "succeeded", data.get("duration_ms")
            row.note = "cache hit" if data.get("cache_hit") else ""
        elif kind == "step.retrying" and row is not None:
            row.status = "retrying"
            row.note = f"{data.get('reason', '')} — again in {data.get('delay_seconds', '?')} s"
        elif kind == "step.failed" and row is not None:
            row.status, row.note = "failed", compact(data.get("error", data), 80)
        elif kind == "job.waiting" and row is not None:
            row.status = "waiting"
        elif kind == "job.blocked":
            self.notice = Text(f"blocked: {blocked_reason(event.data)}", style="yellow")
        elif kind in ("job.started", "job.queued"):
            self.notice = None
        elif kind == "job.cancelled":
            for r in self.steps.values():
                if r.status in ("pending", "running", "waiting"):
                    r.status = "cancelled"

    def text(self) -> str:
        """The streamed chunks, as they will be printed."""
        return "".join(_chunk_text(c) for chunks in self.streamed.values() for c in chunks)

    def table(self) -> Table:
        """One row per step."""
        table = Table("step", "status", "attempt", "duration", "", box=None, padding=(0, 2))
        now = time.time()
        for name, row in self.steps.items():
            took = row.duration_ms
            if took is None and row.status == "running" and row.started:
                took = (now - row.started) * 1000
            table.add_row(
                name, status(row.status), str(row.attempt), ms(took), Text(row.note, style="dim")
            )
        return table

    def render(self) -> RenderableType:
        """The live view: the job id, the steps, the notice, the streamed tail."""
        parts: list[RenderableType] = [Text(f"job {self.job_id}", style="bold"), self.table()]
        if self.notice is not None:
            parts.append(self.notice)
        tail = self.text().splitlines()[-TAIL_LINES:]
        if tail:
            parts.append(Text("─" * 40, style="dim"))
            parts.append(Text("\n".join(tail)))
        return Group(*parts)


def _chunk_text(chunk: Any) -> str:
    return chunk if isinstance(chunk, str) else json.dumps(chunk, default=str) + "\n"


def _answer_in_place(client: Client, event: Event, console: Console) -> None:
    from sdk import ApiError

    data = event.data if isinstance(event.data, dict) else {}
    console.print(question_view(event.step, str(data.get("prompt", "")), data.get("schema")))
    for _ in range(ANSWER_ATTEMPTS):
        answer = ask_answer(data.get("schema"), console)
        try:
            client.answer(event.job_id, answer, step=event.step)
            console.print(f"[green]answered {event.step}[/green]")
            return
        except ApiError as exc:
            if exc.code != "answer_invalid":
                raise
            console.print(f"[red]{exc.message}[/red] — try again")
    console.print(
        f"[yellow]not answered; answer later with `orchestrator jobs answer "
        f"{event.job_id} --json '…'`[/yellow]"
    )


class LiveView:
    """The live terminal view of one job (see the module's docstring)."""

    def __init__(
        self,
        client: Client,
        job_id: str,
        *,
        console: Console | None = None,
        interactive: bool = True,
    ) -> None:
        self.client = client
        self.picture = JobPicture(job_id)
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.interactive = interactive

    def follow(self, events: Iterable[Event]) -> Event | None:
        """Show ``events`` until the terminal one; returns it (None if the stream ended early)."""
        with Live(
            self.picture.render(), console=self.console, refresh_per_second=8, transient=True
        ) as live:
            for event in events:
                self.picture.apply(event)
                if event.type == "job.waiting" and self.interactive:
                    live.stop()
                    _answer_in_place(self.client, event, self.console)
                    live.start()
                live.update(self.picture.render())
                if event.terminal:
                    break
        return self.finish()

    def finish(self) -> Event | None:
        """Print the streamed text (stdout) and the final table and outcome (stderr)."""
        text = self.picture.text()
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()
        self.console.print(self.picture.table())
        return report_end(
            self.picture.job_id, self.picture.last, self.picture.streamed, self.console
        )


def report_end(
    job_id: str, last: Event | None, streamed: dict[str, list[Any]], console: Console
) -> Event | None:
    """The job's outcome on stderr, and the result of sinks that did not stream on stdout."""
    if last is not None and last.type == "job.succeeded":
        result = (last.data or {}).get("result") or {}
        rest = {k: v for k, v in result.items() if k not in streamed}
        if rest:
            sys.stdout.write(json.dumps(rest, default=str, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        console.print(
            f"[bold green]job {job_id} succeeded[/bold green]"
            + (
                f" [dim](result of {', '.join(streamed)}: the streamed output)[/dim]"
                if streamed
                else ""
            )
        )
    elif last is not None:
        console.print(
            f"[bold red]job {job_id} {last.type.split('.')[-1]}[/bold red]: {compact(last.data)}"
        )
    else:
        console.print(f"[yellow]job {job_id}: the stream ended before the job did[/yellow]")
    return last


def follow_plain(
    job_id: str, events: Iterable[Event], *, console: Console | None = None, as_json: bool = False
) -> Event | None:
    """Chunks raw on stdout as they arrive, status lines on stderr (``as_json``: NDJSON events
    on stdout instead). Returns the terminal event."""
    err = console or Console(stderr=True, soft_wrap=True)
    streamed: dict[str, list[Any]] = {}
    last: Event | None = None
    for event in events:
        last = event
        kind, step, data = event.type, event.step, event.data
        if as_json:
            sys.stdout.write(event.model_dump_json() + "\n")
            sys.stdout.flush()
        elif kind == "step.chunk" and step:
            streamed.setdefault(step, []).append(data)
            sys.stdout.write(_chunk_text(data))
            sys.stdout.flush()
        elif kind == "step.started":
            err.print(f"[dim]▸ {step} (attempt {event.attempt})[/dim]")
        elif kind == "step.progress":
            err.print(f"[dim]  {step}: {compact(data)}[/dim]")
        elif kind == "step.succeeded":
            err.print(f"[green]✓ {step}[/green] [dim]{ms((data or {}).get('duration_ms'))}[/dim]")
        elif kind in ("step.failed", "step.retrying"):
            err.print(f"[red]✗ {step} {kind}:[/red] {compact(data)}")
        elif kind == "job.blocked":
            err.print(f"[yellow]blocked: {blocked_reason(data)}[/yellow]")
        elif kind == "job.waiting":
            q = data if isinstance(data, dict) else {}
            err.print(question_view(step, str(q.get("prompt", "")), q.get("schema")))
            err.print(
                f"[magenta]waiting: answer with `orchestrator jobs answer {job_id} "
                f"--step {step} --json '…'`[/magenta]"
            )
        if event.terminal:
            break
    if as_json:
        return last
    if streamed:
        sys.stdout.write("\n")
    return report_end(job_id, last, streamed, err)


__all__ = ["JobPicture", "LiveView", "follow_plain", "report_end"]
