"""``orchestrator submit``: submit a job to a gateway, and optionally follow it live."""

from __future__ import annotations

import itertools
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.cli.client import ApiKeyOpt, UrlOpt, open_client
from orchestrator.cli.errors import one_line_errors

if TYPE_CHECKING:
    from sdk import ApiError, Client

InputOpt = Annotated[
    list[str] | None,
    typer.Option("--input", "-i", help="A workflow input as key=value (JSON values allowed)."),
]


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """Turn ``key=value`` pairs into inputs; a value that parses as JSON is taken as JSON.

    Raises:
        typer.BadParameter: A pair without ``=``.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--input {pair!r} is not key=value")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def _schema_type(schema: dict[str, Any]) -> str:
    if "type" in schema:
        return str(schema["type"])
    options = [_schema_type(s) for s in schema.get("anyOf", []) if isinstance(s, dict)]
    if options:
        return " | ".join(options)
    return schema["$ref"].rsplit("/", 1)[-1] if "$ref" in schema else "any"


def explain_inputs(client: Client, workflow: str, exc: ApiError) -> None:
    """Add each bad input's expected type (from the workflow's inputs schema) to ``exc``."""
    from sdk import ApiError

    errors = exc.details.get("errors")
    if exc.code != "inputs_invalid" or not isinstance(errors, list):
        return
    try:
        props = client.workflow(workflow).inputs.get("properties", {})
    except ApiError:
        return
    for err in errors:
        if isinstance(err, dict) and isinstance(props.get(err.get("parameter")), dict):
            err["expects"] = _schema_type(props[err["parameter"]])
    exc.message += "; pass each as --input name=value"


def register(app: typer.Typer) -> None:
    """Add ``submit`` to the ``orchestrator`` app."""

    @app.command()
    @one_line_errors
    def submit(
        workflow: Annotated[str, typer.Argument(help="The workflow's name.")],
        inputs: InputOpt = None,
        follow: Annotated[
            bool,
            typer.Option(
                "--follow",
                "--stream",
                help="Follow the job live: steps, streamed chunks, questions answered in place.",
            ),
        ] = False,
        idempotency_key: Annotated[
            str | None,
            typer.Option(help="A repeated key returns the first job instead of a new one."),
        ] = None,
        priority: Annotated[
            int | None, typer.Option(min=0, max=9, help="0-9; higher runs sooner.")
        ] = None,
        version: Annotated[str | None, typer.Option(help="Pin this workflow version.")] = None,
        url: UrlOpt = None,
        api_key: ApiKeyOpt = None,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json", help="The accepted job as JSON (with --follow: one JSON event per line)."
            ),
        ] = False,
    ) -> None:
        """Submit a job to a gateway; prints its id (or, with --follow, the job as it runs).

        Exit code: 0 (submitted, or with --follow: succeeded), 1 (the job failed or was
        cancelled), 2 (an error: printed on one line with its code).
        """
        from rich.console import Console

        from orchestrator.cli.jobs import is_terminal
        from orchestrator.cli.live import LiveView, follow_plain
        from sdk import ApiError

        parsed = parse_inputs(inputs or [])
        err = Console(stderr=True, soft_wrap=True)
        options: dict[str, Any] = {
            "idempotency_key": idempotency_key,
            "priority": priority,
            "version": version,
        }
        with open_client(url, api_key) as client:
            try:
                if not follow:
                    job = client.submit(workflow, parsed, **options)
                    if as_json:
                        sys.stdout.write(job.model_dump_json() + "\n")
                    else:
                        sys.stdout.write(job.job_id + "\n")
                        err.print(
                            f"[dim]job {job.job_id} {job.status}"
                            + (
                                " (an earlier job with this idempotency key)"
                                if job.replayed
                                else ""
                            )
                            + f"; follow it: orchestrator jobs events {job.job_id} -f[/dim]"
                        )
                    return
                stream = client.run(workflow, parsed, **options)
                first = next(stream)
            except ApiError as exc:
                explain_inputs(client, workflow, exc)
                raise
            err.print(f"[bold]job {first.job_id}[/bold] [dim]{workflow}[/dim]")
            events = itertools.chain([first], stream)
            with stream:
                if as_json or not is_terminal():
                    last = follow_plain(first.job_id, events, console=err, as_json=as_json)
                else:
                    last = LiveView(client, first.job_id, console=err).follow(events)
        raise typer.Exit(0 if last is not None and last.type == "job.succeeded" else 1)


__all__ = ["explain_inputs", "parse_inputs", "register"]
