"""The ``orchestrator`` command: dev, gateway, worker, migrate, submit, jobs, workflows, config,
keys, mcp, llm, tags.

Command groups live in their own modules (``jobs``, ``keys``, ...) and are registered below with
one line each. Any error is one line saying what to do (``--debug``: the traceback too).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer

from orchestrator.cli.errors import DEBUG, fail, one_line_errors
from orchestrator.cli.settings import load_settings
from orchestrator.config import Settings
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.logs import configure_logging

app = typer.Typer(
    name="orchestrator",
    help="AgentOrchestrator: run @step DAGs through a gateway, Redis/arq workers and live streams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

InputOpt = Annotated[
    list[str] | None,
    typer.Option("--input", "-i", help="A workflow input as key=value (JSON values allowed)."),
]


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option(
        "--debug", envvar="ORCH_DEBUG", help="Show tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    """AgentOrchestrator: run @step DAGs through a gateway, Redis/arq workers and live streams."""
    DEBUG.enabled = DEBUG.enabled or debug


def _settings(*, stdout: bool = False) -> Settings:
    try:
        settings = load_settings()
    except OrchestratorError as exc:
        _fail(exc)
    configure_logging(
        settings.log_level,
        redact_fields=settings.log.redact_fields,
        stream=sys.stdout if stdout else None,  # servers log on stdout; CLI output owns it otherwise
    )
    return settings


@contextmanager
def _telemetry(settings: Settings, service_name: str) -> Iterator[None]:
    """This process's one tracing pipeline, flushed and shut down when the command ends."""
    from orchestrator.telemetry import setup_telemetry

    try:
        shutdown = setup_telemetry(settings, service_name)
    except OrchestratorError as exc:
        _fail(exc)
    try:
        yield
    finally:
        shutdown()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows): asyncio's own loop
        return None
    return uvloop.new_event_loop


def _fail(exc: BaseException) -> NoReturn:
    fail(exc)


def _run(coro: Any) -> Any:
    """Run ``coro`` on uvloop where it is installed (as uvicorn does), else on asyncio's loop.

    uvloop's loop takes less CPU per Redis round trip, and a worker job is a few dozen.
    """
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(coro)
    except OrchestratorError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
def dev(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Bind port (0 picks a free one).")] = None,
    submit: Annotated[
        str | None, typer.Option(help="Submit this workflow, stream it, and exit.")
    ] = None,
    inputs: InputOpt = None,
) -> None:
    """Gateway and worker in one process; embedded Redis and SQLite when no URLs are set."""
    from orchestrator.cli.dev import run_dev
    from orchestrator.cli.stream import parse_inputs

    settings = _settings()
    _dev_auth(settings)
    _check_mcp(settings)
    if host is not None:
        settings.gateway.host = host
    if port is not None:
        settings.gateway.port = port
    try:
        parsed = parse_inputs(inputs or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with _telemetry(settings, "orchestrator-dev"):
        code = _run(run_dev(settings, submit=submit, inputs=parsed))
    raise typer.Exit(code)


def _check_mcp(settings: Settings) -> None:
    """A bad MCP server configuration stops the process now, in one line naming the server."""
    from orchestrator.mcp.factory import configured_servers

    try:
        configured_servers(settings)
    except OrchestratorError as exc:
        _fail(exc)


def _dev_auth(settings: Settings) -> None:
    """`orchestrator dev` runs without auth when told to, or when nothing is configured (the
    embedded Redis and SQLite of `make run`); it says so loudly either way."""
    explicit = "enabled" in settings.auth.model_fields_set
    if not explicit and not settings.redis.url and not settings.database.url:
        settings.auth.enabled = False
    if not settings.auth.enabled:
        typer.secho(
            "WARNING: authentication is DISABLED (orchestrator dev"
            + (", ORCH_AUTH__ENABLED=false" if explicit else ", nothing configured")
            + "): every caller is an admin of every tenant. Never expose this server.",
            fg=typer.colors.YELLOW, err=True,
        )


@app.command()
def gateway(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Bind port.")] = None,
) -> None:
    """Serve the HTTP gateway (needs ORCH_REDIS__URL and ORCH_DATABASE__URL)."""
    from orchestrator.heap import collection_paused

    # No collections while the start-up builds its objects; the app's start freezes them and
    # turns the collector on (orchestrator/heap.py).
    with collection_paused():
        _gateway(host, port)


def _gateway(host: str | None, port: int | None) -> None:
    import uvicorn

    from gateway.app import create_app
    from orchestrator.cli.preflight import announce, auth_mode, preflight
    from orchestrator.dag.registry import WorkflowRegistry

    settings = _settings(stdout=True)
    for name, value in (("ORCH_REDIS__URL", settings.redis.url),
                        ("ORCH_DATABASE__URL", settings.database.url)):
        if not value:
            _fail(ConfigError(f"{name} is not set", details={"setting": name}))
    if not settings.auth.enabled:
        _fail(ConfigError("ORCH_AUTH__ENABLED=false is allowed only in `orchestrator dev`",
                          details={"setting": "ORCH_AUTH__ENABLED"}))
    _check_mcp(settings)
    try:
        registry = WorkflowRegistry.from_modules(settings.workflows)
    except OrchestratorError as exc:
        _fail(exc)
    _run(preflight(settings))
    bind_host = host or settings.gateway.host
    bind_port = port if port is not None else settings.gateway.port
    announce("gateway", settings, registry, address=f"http://{bind_host}:{bind_port}",
             auth=auth_mode(settings), docs="/docs")
    with _telemetry(settings, "orchestrator-gateway"):
        uvicorn.run(
            create_app(settings, registry=registry, freeze_heap=True),
            host=bind_host,
            port=bind_port,
            log_level="warning",
            access_log=False,  # the gateway's own access log (gateway/access.py) has each request
            # Events are small JSON; compressing each frame cost a quarter of the gateway's CPU
            # with 100 WebSocket clients (benchmark (e)) and saves little.
            ws_per_message_deflate=False,
            # open SSE/WebSocket streams never end by themselves: on SIGTERM they are closed
            # after this grace (their stream slots are released as they close)
            timeout_graceful_shutdown=5,
            log_config=None,
        )


@app.command()
def worker(
    one_job: Annotated[
        bool, typer.Option("--one-job", help="Run exactly one job, then exit (KEDA pods).")
    ] = False,
) -> None:
    """Run a worker: long-lived, or one job (exits after an idle timeout if none comes)."""
    from orchestrator.heap import collection_paused

    # No collections while the start-up builds its objects; the worker's start freezes them
    # and turns the collector on (orchestrator/heap.py).
    with collection_paused():
        _worker(one_job)


def _worker(one_job: bool) -> None:
    from orchestrator.cli.preflight import announce, preflight
    from orchestrator.dag.registry import WorkflowRegistry
    from worker.runner import run_worker

    settings = _settings(stdout=True)
    for name, value in (("ORCH_REDIS__URL", settings.redis.url),
                        ("ORCH_DATABASE__URL", settings.database.url)):
        if not value:
            _fail(ConfigError(f"{name} is not set", details={"setting": name}))
    try:
        registry = WorkflowRegistry.from_modules(settings.workflows)
    except OrchestratorError as exc:
        _fail(exc)
    # A one-job pod checks only Redis: its trace store loads lazily, off the path to its job.
    _run(preflight(settings, database=not one_job))
    announce("worker", settings, registry, mode="one-job" if one_job else "long-lived")
    with _telemetry(settings, "orchestrator-worker"):  # flushed before a one-job pod exits
        _run(run_worker(settings, one_job=one_job, registry=registry))


@app.command()
@one_line_errors
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the trace store's Alembic migrations (to ORCH_DATABASE__URL)."""
    from orchestrator.trace.migrate import upgrade

    settings = _settings()
    if not settings.database.url:
        _fail(OrchestratorError("ORCH_DATABASE__URL is not set",
                                details={"setting": "ORCH_DATABASE__URL"}))
    assert settings.database.url is not None
    from orchestrator.config import mask_url
    from orchestrator.errors import TraceError

    try:
        upgrade(settings.database.url, revision)
    except TraceError as exc:
        _fail(ConfigError(
            f"cannot migrate the database at {mask_url(settings.database.url)} "
            f"({exc.details.get('error', 'error')}): start PostgreSQL (and create the database) "
            "or fix ORCH_DATABASE__URL", details={"setting": "ORCH_DATABASE__URL"}))
    typer.echo(f"migrated to {revision}")


def _register_submit() -> None:
    from orchestrator.cli.submit import register

    register(app)


_register_submit()


@app.command()
@one_line_errors
def workflows() -> None:
    """List the workflows found in ORCH_WORKFLOWS with their steps."""
    from rich.console import Console
    from rich.table import Table

    from orchestrator.dag.registry import WorkflowRegistry

    settings = _settings()
    try:
        registry = WorkflowRegistry.from_modules(settings.workflows)
    except OrchestratorError as exc:
        _fail(exc)
    table = Table("workflow", "steps (topological)", "inputs", "version")
    for wf in registry:
        table.add_row(wf.name, " → ".join(wf.steps), ", ".join(wf.input_names),
                      wf.version)
    Console().print(table)


def _register_keys() -> None:
    from orchestrator.cli.keys import register

    register(app, _settings, _run)


_register_keys()


def _register_mcp() -> None:
    from orchestrator.cli.mcp import register

    register(app, _settings, _run)


def _register_llm() -> None:
    from orchestrator.cli.llm import register

    register(app, _settings, _run)


_register_mcp()
_register_llm()


def _register_tags() -> None:
    from orchestrator.cli.tags import register

    register(app, _settings)


_register_tags()


def _register_agent() -> None:
    from orchestrator.cli.agent import register

    register(app, _settings, _run)


_register_agent()
def _register_jobs() -> None:
    from orchestrator.cli.jobs import app as jobs_app

    app.add_typer(jobs_app, name="jobs")


_register_jobs()


@app.command()
@one_line_errors
def config() -> None:
    """Print the effective settings as JSON, secrets masked."""
    from orchestrator.serialization import dumps

    sys.stdout.write(dumps(_settings().masked(), indent=2).decode() + "\n")


def main() -> None:
    """The console script: ``app`` with any error left over as one line (``--debug``: raised)."""
    try:
        app()
    except Exception as exc:
        fail(exc)


__all__ = ["app", "main"]
