"""``orchestrator jobs``: list, get, cancel, retry, answer, trace, events, output.

Each command talks to a gateway through the SDK's :class:`sdk.Client` (``--url`` /
``ORCH_GATEWAY__URL``, ``--api-key`` / ``ORCH_GATEWAY__API_KEY``); ``--json`` prints the API's
answer for scripts. Errors are one line with the API's code (exit 2).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.cli.client import ApiKeyOpt, JsonOpt, UrlOpt, open_async_client, open_client
from orchestrator.cli.errors import ERROR_EXIT, one_line_errors

if TYPE_CHECKING:  # rich and the renderers load when a command runs, not at every CLI start
    from rich.console import Console

app = typer.Typer(name="jobs", help="Inspect and control jobs on a gateway.", no_args_is_help=True)

JobArg = Annotated[str, typer.Argument(help="The job's id.")]
EVENTS_IDLE_SECONDS = 1.0
"""``jobs events`` without ``--follow`` on an unfinished job: stop after this long with no event."""


def _out() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True)


def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str, ensure_ascii=False, indent=2) + "\n")


def is_terminal() -> bool:
    """Whether a person is at the keyboard (stdin and stderr are terminals)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


@app.command("list")
@one_line_errors
def list_jobs(
    status: Annotated[
        str | None, typer.Option(help="queued, running, waiting, succeeded, failed or cancelled.")
    ] = None,
    workflow: Annotated[str | None, typer.Option(help="Only this workflow's jobs.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many (newest first).")] = 0,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    from orchestrator.cli.render import job_list

    with open_client(url, api_key) as client:
        page = client.list(status=status, workflow=workflow, limit=limit, offset=offset)
    if as_json:
        _print_json(page.model_dump(mode="json"))
    else:
        _out().print(job_list(page))


@app.command("get")
@one_line_errors
def get_job(
    job_id: JobArg, url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Show a job: status, steps, open questions, why it is blocked, result."""
    from orchestrator.cli.render import job_view

    with open_client(url, api_key) as client:
        job = client.get(job_id)
    if as_json:
        _print_json(job.model_dump(mode="json", by_alias=True))
    else:
        _out().print(job_view(job))


@app.command("cancel")
@one_line_errors
def cancel_job(
    job_id: JobArg,
    hard: Annotated[
        bool, typer.Option("--hard", help="Also delete the worker pod running it (Kubernetes).")
    ] = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a job: at once if queued, cooperatively if running."""
    with open_client(url, api_key) as client:
        done = client.cancel(job_id, hard=hard)
    if as_json:
        _print_json(done.model_dump(mode="json"))
    else:
        _err().print(f"job {done.job_id}: {done.status}")


@app.command("retry")
@one_line_errors
def retry_job(
    job_id: JobArg, url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Queue a failed or cancelled job again; finished steps do not run again."""
    with open_client(url, api_key) as client:
        done = client.retry(job_id)
    if as_json:
        _print_json(done.model_dump(mode="json"))
    else:
        _err().print(
            f"job {done.job_id}: {done.status}; runs again: {', '.join(done.steps) or 'nothing'}"
        )


@app.command("answer")
@one_line_errors
def answer_job(
    job_id: JobArg,
    answer: Annotated[
        str | None,
        typer.Option(
            "--json",
            help="The answer as JSON; without it, prompts built from the question's schema.",
        ),
    ] = None,
    step: Annotated[str | None, typer.Option(help="The asking step, when several ask.")] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Answer a waiting job's question."""
    from orchestrator.cli.prompt import ask_answer
    from orchestrator.cli.render import question_view

    with open_client(url, api_key) as client:
        if answer is not None:
            try:
                value = json.loads(answer)
            except ValueError as exc:
                raise typer.BadParameter(f"--json is not valid JSON: {exc}") from None
        else:
            job = client.get(job_id)
            questions = [q for q in job.questions if step is None or q.step == step]
            if not questions:
                _err().print(
                    f"[red]job {job_id} has no open question"
                    + (f" from {step}" if step else "")
                    + f" (status {job.status})[/red]"
                )
                raise typer.Exit(ERROR_EXIT)
            if not is_terminal():
                raise typer.BadParameter("no terminal to ask on: pass the answer with --json")
            q = questions[0]
            step = q.step
            err = _err()
            err.print(question_view(q.step, q.prompt, q.json_schema))
            value = ask_answer(q.json_schema, err)
        done = client.answer(job_id, value, step=step)
    _err().print(f"job {done.job_id}: answered {done.step}, {done.status}")


@app.command("trace")
@one_line_errors
def trace_job(
    job_id: JobArg, url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """The job's waterfall: every step attempt on the job's time axis, with worker and error."""
    from orchestrator.cli.render import waterfall

    with open_client(url, api_key) as client:
        trace = client.trace(job_id)
    if as_json:
        _print_json(trace.model_dump(mode="json"))
    else:
        _out().print(waterfall(trace))


@app.command("events")
@one_line_errors
def job_events(
    job_id: JobArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
    ] = False,
    after: Annotated[str | None, typer.Option(help="Only events after this event id.")] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
) -> None:
    """Print a job's events (from its start); --follow waits for new ones until it ends."""
    import asyncio

    from orchestrator.cli.render import event_line

    async def go() -> None:
        async with open_async_client(url, api_key) as client:
            job = await client.get(job_id)
            wait = None if follow or job.finished else EVENTS_IDLE_SECONDS
            out = _out()
            async with client.events(job_id, last_event_id=after) as stream:
                while True:
                    try:
                        event = await asyncio.wait_for(anext(stream), wait)
                    except (StopAsyncIteration, TimeoutError):
                        break
                    if as_json:
                        sys.stdout.write(event.model_dump_json() + "\n")
                        sys.stdout.flush()
                    else:
                        out.print(event_line(event))
            if wait is not None and not job.finished:
                _err().print(f"[dim]job {job_id} is {job.status}; --follow to keep watching[/dim]")

    asyncio.run(go())


@app.command("output")
@one_line_errors
def step_output(
    job_id: JobArg,
    step: Annotated[str, typer.Argument(help="The step (a fan-out instance as step[i]).")],
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a step's checkpointed output (a string as is, anything else as JSON)."""
    with open_client(url, api_key) as client:
        out = client.step_output(job_id, step)
    if isinstance(out.output, str) and not as_json:
        sys.stdout.write(out.output if out.output.endswith("\n") else out.output + "\n")
    else:
        _print_json(out.output)


__all__ = ["app", "is_terminal"]
