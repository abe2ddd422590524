"""``orchestrator mcp``: the configured MCP servers, their tools, one call, and login.

``servers``, ``tools`` and ``call`` use this process's own MCP manager (the configuration of
``ORCH_MCP__CONFIG`` / ``ORCH_MCP__SERVERS``, stdio servers started as children and stopped at
exit), acting as the operator (``cli``) under the default (allow-all) policy: a diagnostic tool
for whoever holds the configuration, not a way around the gateway's policy for plugins.
``login`` is provided by the OAuth token manager (``orchestrator/mcp/login.py``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from orchestrator.config import Settings

app = typer.Typer(help="MCP servers and tools (docs/mcp.md).", no_args_is_help=True)

LOGIN_MODULE = "orchestrator.mcp.login"


def register(
    root: typer.Typer, settings: Callable[[], Settings], run: Callable[[Any], Any]
) -> None:
    """Add the ``mcp`` group to ``root`` (``settings`` and ``run`` are the CLI's helpers)."""

    @app.command()
    def servers() -> None:
        """List the configured servers, tab-separated (never their secrets)."""
        from orchestrator.mcp.factory import configured_servers

        async def go() -> list[Any]:
            return configured_servers(settings())

        lines = ["name\ttransport\ttarget\tauth\ttimeout_seconds\tmax_concurrency"]
        for s in run(go()):
            target = s.url if s.transport == "http" else " ".join([s.command or "", *s.args])
            lines.append(
                f"{s.name}\t{s.transport}\t{target}\t{s.auth.type}\t{s.timeout_seconds:g}\t"
                f"{s.max_concurrency}"
            )
        sys.stdout.write("\n".join(lines) + "\n")

    @app.command()
    def tools(
        server: Annotated[str | None, typer.Option(help="Only this server's tools.")] = None,
    ) -> None:
        """List the tools (server/tool and description), asking the servers."""

        async def go() -> list[Any]:
            from orchestrator.mcp.factory import configured_servers
            from orchestrator.mcp.manager import McpManager

            async with McpManager(configured_servers(settings())) as manager:
                return await manager.list_tools(server=server)

        for tool in run(go()):
            first = tool.description.strip().split("\n", 1)[0] if tool.description else ""
            sys.stdout.write(f"{tool.name}\t{first}\n")

    @app.command()
    def call(
        name: Annotated[str, typer.Argument(help="The tool, as SERVER/TOOL.")],
        args: Annotated[
            list[str] | None,
            typer.Option("--arg", "-a", help="An argument as key=value (JSON values allowed)."),
        ] = None,
    ) -> None:
        """Call one tool and print its result as JSON; exit 1 when the tool reports an error."""
        from orchestrator.cli.stream import parse_inputs
        from orchestrator.serialization import dumps

        try:
            arguments = parse_inputs(args or [])
        except ValueError as exc:
            raise typer.BadParameter(str(exc).replace("--input", "--arg")) from None

        async def go() -> Any:
            from orchestrator.jobs.actor import Actor
            from orchestrator.mcp.factory import configured_servers
            from orchestrator.mcp.manager import McpManager

            async with McpManager(configured_servers(settings())) as manager:
                return await manager.call(Actor(id="cli", all_tenants=True), name, arguments)

        result = run(go())
        sys.stdout.write(dumps(result.to_dict(), indent=2).decode() + "\n")
        if result.is_error:
            raise typer.Exit(1)

    @app.command()
    def login(server: Annotated[str, typer.Argument(help="The oauth2 server's name.")]) -> None:
        """Log in to an oauth2 server and store its refresh token (the OAuth token manager)."""
        if importlib.util.find_spec(LOGIN_MODULE) is None:
            typer.secho(
                "error: `orchestrator mcp login` needs the OAuth token manager "
                f"({LOGIN_MODULE}), which this build does not include",
                fg=typer.colors.RED, err=True,
            )  # fmt: skip
            raise typer.Exit(2)
        module = importlib.import_module(LOGIN_MODULE)
        outcome = module.login(settings=settings(), server=server)
        if inspect.isawaitable(outcome):
            run(outcome)

    root.add_typer(app, name="mcp")


__all__ = ["register"]
