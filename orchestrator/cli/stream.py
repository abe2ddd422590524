"""Printing a job's event stream from async code (``orchestrator dev --submit``, ``make run``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

from orchestrator.cli.render import blocked_reason, compact, ms

if TYPE_CHECKING:
    from sdk import AsyncClient, Event


async def follow_job(client: AsyncClient, job_id: str, *,
                     console: Console | None = None) -> Event | None:
    """Print a job's events: chunks raw on stdout as they arrive, status lines on stderr.

    Args:
        client: The SDK's async client.
        job_id: The job to follow.
        console: Where status lines go (stderr by default).

    Returns:
        The terminal event (None if the stream ended before it).
    """
    from orchestrator.cli.live import report_end

    err = console or Console(stderr=True, soft_wrap=True)
    streamed: dict[str, list[Any]] = {}
    last: Event | None = None
    async for event in client.events(job_id):
        kind, step, data = event.type, event.step, event.data
        last = event
        if kind == "step.chunk" and step:
            streamed.setdefault(step, []).append(data)
            sys.stdout.write(data if isinstance(data, str) else compact(data, 10**9) + "\n")
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
            err.print(f"[magenta]waiting for input from {step}: orchestrator jobs answer "
                      f"{job_id}[/magenta]")
    if streamed:
        sys.stdout.write("\n")
    return report_end(job_id, last, streamed, err)


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """Turn ``key=value`` pairs into inputs; a value that parses as JSON is taken as JSON.

    Raises:
        ValueError: A pair without ``=``.
    """
    from orchestrator.serialization import loads

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--input {pair!r} is not key=value")
        try:
            out[key] = loads(raw)
        except ValueError:
            out[key] = raw
    return out


__all__ = ["follow_job", "parse_inputs"]
