"""A streamable-HTTP MCP server for the tests, on the official SDK's server side (``MCPServer``).

Run as a child process: ``python tests/support/mcp_test_server.py --port N [--tokens-file F]``,
or over stdio: ``python tests/support/mcp_test_server.py --stdio``.

Tools: ``echo(text)``, ``sleep(ms)`` (counts calls in flight: the most seen at once is
``max_in_flight``), ``count()`` (a side effect: increments a counter), ``search(query)`` (canned results), ``hang()`` (never answers), ``add_tool(name)``
(registers a tool and sends ``tools/list_changed``).
``GET /stats`` returns ``{"count", "max_in_flight", "calls", "rejected"}``; ``POST /reset`` zeroes
them. With ``--tokens-file``, every MCP request must carry ``Authorization: Bearer <token>`` with a
token listed in that file (one a line, read on each request, so a test revokes a token by
rewriting the file); others get 401, counted in ``rejected``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

STATE: dict[str, Any] = {"count": 0, "in_flight": 0, "max_in_flight": 0, "calls": {}, "rejected": 0}
server = MCPServer("orchestrator-test-server")
STATE_FILE: list[Path] = []  # --state-file: STATE is written there on every change (stdio mode)


def _save() -> None:
    if STATE_FILE:
        tmp = STATE_FILE[0].with_suffix(".tmp")
        tmp.write_text(json.dumps(STATE))
        tmp.replace(STATE_FILE[0])


def _called(tool: str) -> None:
    STATE["calls"][tool] = STATE["calls"].get(tool, 0) + 1
    _save()


@server.tool()
async def echo(text: str) -> str:
    """Return ``text`` unchanged."""
    _called("echo")
    return text


@server.tool()
async def sleep(ms: int) -> str:
    """Sleep ``ms`` milliseconds, then answer ``slept <ms>``."""
    _called("sleep")
    STATE["in_flight"] += 1
    STATE["max_in_flight"] = max(STATE["max_in_flight"], STATE["in_flight"])
    _save()
    try:
        await asyncio.sleep(ms / 1000)
    finally:
        STATE["in_flight"] -= 1
    return f"slept {ms}"


@server.tool()
async def count() -> dict[str, int]:
    """Increment the server's counter (a side effect) and return it."""
    _called("count")
    STATE["count"] += 1
    _save()
    return {"count": STATE["count"]}


@server.tool()
async def search(query: str) -> dict[str, list[dict[str, str]]]:
    """Search (canned): two results about ``query``, each with a title, URL and snippet."""
    _called("search")
    return {"results": [{"title": f"{query}: part {n}", "url": f"https://example.org/{n}",
                         "snippet": f"What source {n} says about {query}."} for n in (1, 2)]}  # fmt: skip


@server.tool()
async def hang() -> str:
    """Never answer (until the client gives up)."""
    _called("hang")
    await asyncio.Event().wait()
    return "unreachable"


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Register a new tool ``name`` (an echo) and announce it with ``tools/list_changed``."""
    _called("add_tool")

    async def added(text: str) -> str:
        return text

    server.add_tool(added, name=name, description=f"added at run time: {name}")
    await ctx.notify_tools_changed()
    return f"added {name}"


@server.custom_route("/stats", methods=["GET"])
async def stats(request: Request) -> Response:
    return JSONResponse({k: v for k, v in STATE.items() if k != "in_flight"})


@server.custom_route("/reset", methods=["POST"])
async def reset(request: Request) -> Response:
    STATE.update(count=0, in_flight=0, max_in_flight=0, calls={}, rejected=0)
    return JSONResponse({"ok": True})


class BearerCheck:
    """Checks the bearer token of every MCP request against the tokens file."""

    def __init__(self, app: ASGIApp, tokens_file: Path) -> None:
        self.app = app
        self.tokens_file = tokens_file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/mcp"):
            headers = dict(scope.get("headers") or [])
            sent = headers.get(b"authorization", b"").decode()
            valid = {line.strip() for line in self.tokens_file.read_text().splitlines()}
            if not sent.startswith("Bearer ") or sent[7:] not in valid - {""}:
                STATE["rejected"] += 1
                await JSONResponse(
                    {"error": "invalid_token"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--tokens-file", type=Path)
    parser.add_argument("--stdio", action="store_true")
    parser.add_argument("--state-file", type=Path)
    args = parser.parse_args()
    if args.state_file is not None:
        STATE_FILE.append(args.state_file)
    if args.stdio:
        server.run("stdio")
        return
    app: ASGIApp = server.streamable_http_app()
    if args.tokens_file is not None:
        app = BearerCheck(app, args.tokens_file)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
