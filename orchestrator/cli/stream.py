"""Printing a job's event stream in a terminal: chunks as they arrive, then the result."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

from orchestrator.serialization import dumps


async def follow_job(client: Any, job_id: str, *, console: Console | None = None) -> dict[str, Any]:
    """Print a job's events: chunks raw on stdout, progress and status on stderr.

    Args:
        client: An :class:`sdk.Client`.
        job_id: The job to follow.
        console: Where status lines go (stderr by default).

    Returns:
        The terminal event.
    """
    err = console or Console(stderr=True)
    streamed: dict[str, list[Any]] = {}
    last: dict[str, Any] = {}
    async for event in client.events(job_id):
        kind, step, data = event["type"], event["step"], event["data"]
        last = event
        if kind == "step.chunk":
            streamed.setdefault(step, []).append(data)
            sys.stdout.write(data if isinstance(data, str) else dumps(data).decode() + "\n")
            sys.stdout.flush()
        elif kind == "step.started":
            err.print(f"[dim]▸ {step} (attempt {event['attempt']})[/dim]")
        elif kind == "step.progress":
            err.print(f"[dim]  {step}: {dumps(data).decode()}[/dim]")
        elif kind == "step.succeeded":
            err.print(f"[green]✓ {step}[/green] [dim]{data.get('duration_ms')} ms[/dim]")
        elif kind in ("step.failed", "step.retrying"):
            err.print(f"[red]✗ {step} {kind}:[/red] {dumps(data).decode()}")
    if streamed:
        sys.stdout.write("\n")
    if last.get("type") == "job.succeeded":
        result = (last.get("data") or {}).get("result") or {}
        rest = {k: v for k, v in result.items() if k not in streamed}
        if rest:
            sys.stdout.write(dumps(rest, ).decode() + "\n")
        err.print(f"[bold green]job {job_id} succeeded[/bold green]"
                  + (f" [dim](result of {', '.join(streamed)}: the streamed output above)[/dim]"
                     if streamed else ""))
    elif last:
        err.print(f"[bold red]job {job_id} {last['type'].split('.')[-1]}[/bold red]: "
                  f"{dumps(last.get('data')).decode()}")
    sys.stdout.flush()
    return last


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
