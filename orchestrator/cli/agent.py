"""``orchestrator agent "TASK"``: run an agent task in this process (DESIGN §17).

The same router, envelope engine and MCP tool plane as a task of the ``agent`` workflow on the
stack (``POST /v1/agent/execute``), without Redis, PostgreSQL or a worker: the model is the one
of ``ORCH_LLM__*`` (Claude with ``ANTHROPIC_API_KEY``; any OpenAI-compatible server with
``ORCH_LLM__DEFAULT_MODEL=openai:MODEL`` and ``ORCH_LLM__OPENAI_BASE_URL``), the tools are the
configured MCP servers (``ORCH_MCP__*``, else ``examples/repo_agent/mcp.yaml``: mcp-server-git).
``--model fake`` replays a recorded model from a local ``fakellm`` server (PyPI ``fakellm``, the
rules of ``examples/repo_agent/fakellm.yaml``), and every printed line says so.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.config import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "repo_agent"
FAKE_PREFIX = "[fake model: replayed by fakellm] "
NO_PROVIDER = (
    "No LLM provider is configured: set ANTHROPIC_API_KEY (Claude), or "
    "ORCH_LLM__DEFAULT_MODEL=openai:MODEL with ORCH_LLM__OPENAI_BASE_URL=http://HOST/v1 for any "
    "OpenAI-compatible server (vLLM, Ollama, LiteLLM); or try --model fake."
)
READY_TIMEOUT_SECONDS = 20.0


def register(
    root: typer.Typer, settings: Callable[[], Settings], run: Callable[[Any], Any]
) -> None:
    """Add the ``agent`` command to ``root`` (``settings`` and ``run`` are the CLI's helpers)."""

    @root.command("agent")
    def agent_command(
        task: Annotated[str, typer.Argument(help="What you want, in natural language.")],
        stream: Annotated[
            bool,
            typer.Option(
                "--stream",
                help="Print the agent's envelopes and tool calls as they happen, and "
                "the reply as it streams.",
            ),
        ] = False,
        model: Annotated[
            str | None,
            typer.Option(
                help="A model reference (provider:model), or 'fake' to replay the recorded model "
                "of examples/repo_agent with fakellm."
            ),
        ] = None,
        agent: Annotated[
            str | None, typer.Option(help="Skip the router: run this agent (content, code, ...).")
        ] = None,
        url: Annotated[
            str | None,
            typer.Option(
                help="Run the task on a running stack instead (a gateway URL, e.g. "
                "$ORCH_GATEWAY__URL): POST /v1/agent/execute as ORCH_GATEWAY__API_KEY, under "
                "the tags, audit and durability of the stack."
            ),
        ] = None,
        repo: Annotated[
            Path | None,
            typer.Option(
                help="A git repository the task is about (its path is given to the agent)."
            ),
        ] = None,
    ) -> None:
        """Run an agent task here and print its answer (the router picks the agent)."""
        base = settings()
        fake = model == "fake"
        prefix = FAKE_PREFIX if fake else ""

        def say(line: str = "", *, probe: bool = False, **style: Any) -> bool:
            if probe:  # tells run_task whether lines carry the fake-model prefix
                return fake
            for part in line.splitlines() or [""]:
                typer.secho(f"{prefix}{part}", **style)
            return fake

        if url is not None:
            if repo is not None:
                task = f"{task}\n\n(The repository is at {repo.resolve()}; pass it as repo_path.)"
            key = base.gateway.api_key.get_secret_value() if base.gateway.api_key else None
            raise typer.Exit(run(run_remote(url, key, task, agent=agent, stream=stream, say=say)))
        if not fake and not _has_provider(base, model):
            typer.echo(NO_PROVIDER, err=True)
            raise typer.Exit(2)
        if repo is not None:
            task = f"{task}\n\n(The repository is at {repo.resolve()}; pass it as repo_path.)"
        with _fakellm() if fake else _nothing() as fake_url:
            llm = base.llm
            if fake_url is not None:
                from pydantic import SecretStr

                llm = llm.model_copy(update={
                    "anthropic_api_key": SecretStr("fake"), "anthropic_base_url": fake_url,
                    "default_model": "anthropic:claude-sonnet-4-5", "max_retries": 0})  # fmt: skip
            elif model is not None:
                llm = llm.model_copy(update={"default_model": model})
            run(run_task(base.model_copy(update={"llm": llm}), task, agent=agent,
                         stream=stream, say=say))  # fmt: skip


class LocalContext:
    """What the router and the engine use of a step context, in this process.

    Args:
        llm: ``ctx.llm`` (not durable: no journal).
        tools: ``ctx.tools`` on a local MCP manager.
        say: Prints one line (with the fake-model prefix when it applies).
        stream: Print progress events.
    """

    def __init__(self, llm: Any, tools: Any, say: Callable[..., Any], stream: bool) -> None:
        self.llm = llm
        self.tools = tools
        self.prompter = None
        self.job_id = f"cli-{uuid.uuid4().hex[:8]}"
        self._say = say
        self._stream = stream

    def emit(self, data: Any) -> None:
        if not self._stream or not isinstance(data, dict):
            return
        event = data.get("event")
        if event == "agent.envelope":
            tools = f" {', '.join(data['tools'])}" if data.get("tools") else ""
            self._say(f"· turn {data['turn']}: {data['type']}{tools} "
                      f"(confidence {data['confidence']}) {data['reasoning']}", dim=True)  # fmt: skip
        elif event == "agent.tool_result":
            state = "ok" if data["ok"] else f"refused/failed: {data.get('error')}"
            self._say(f"  ↳ {data['tool']}: {state} ({len(data['content'])} chars)", dim=True)

    async def ask(self, prompt: str, *, schema: Any = None) -> Any:
        self._say(f"? {prompt}")
        return typer.prompt(">", prompt_suffix=" ")


async def run_task(settings: Settings, task: str, *, agent: str | None, stream: bool,
                   say: Callable[..., Any]) -> None:  # fmt: skip
    """Route ``task`` (unless ``agent``), run the agent, print its output.

    Raises:
        OrchestratorError: The run failed (``unknown_task_type``, ``envelope_invalid``, an LLM
            or tool error); the CLI prints it as one line.
    """
    from orchestrator.agents.engine import AgentEngine
    from orchestrator.agents.registry import AgentRegistry
    from orchestrator.agents.router import classify_task, route_to_agent
    from orchestrator.agents.workflow import pieces
    from orchestrator.jobs.actor import Actor
    from orchestrator.llm.registry import ProviderRegistry
    from orchestrator.llm.step import CallSite, StepLLM
    from orchestrator.mcp.config import load_servers
    from orchestrator.mcp.factory import configured_servers
    from orchestrator.mcp.manager import McpManager
    from orchestrator.mcp.step import StepTools

    servers = configured_servers(settings) or load_servers(str(EXAMPLE / "mcp.yaml"), None)
    manager = McpManager(servers)
    providers = ProviderRegistry.from_settings(settings.llm)
    registry = AgentRegistry.load(settings.agents.modules)
    try:
        site = CallSite(f"cli-{uuid.uuid4().hex[:8]}", "agent", 1)
        llm = StepLLM(providers, site, default_max_tokens=settings.llm.max_tokens)
        tools = StepTools(manager, Actor(id=os.environ.get("USER") or "cli", tenant_id=None))
        ctx = LocalContext(llm, tools, say, stream)
        if agent is None:
            decision = await classify_task(llm, registry, task, model=settings.agents.router_model)
            chosen = route_to_agent(decision, registry,
                                    min_confidence=settings.agents.min_confidence)  # fmt: skip
            if stream:
                say(f"· routed to {chosen.name} (confidence {decision.confidence}): "
                    f"{decision.reasoning}", dim=True)  # fmt: skip
        else:
            chosen = registry.get(agent)
        output = await AgentEngine(chosen, ctx, settings.agents).run(task)
        if stream:
            prefix = FAKE_PREFIX if say("", probe=True) else ""
            line_start = True
            for piece in pieces(output.content.rstrip("\n")):
                for part in piece.splitlines(keepends=True):
                    sys.stdout.write(f"{prefix if line_start else ''}{part}")
                    line_start = part.endswith("\n")
                sys.stdout.flush()
            sys.stdout.write("\n")
        else:
            say(output.content)
        for c in output.citations:
            say(f"[source] {c.source}{f' — {c.title}' if c.title else ''}", dim=True)
        usage = llm.usage
        say(f"({chosen.name} agent, {len(llm.results)} LLM calls, {usage.total_tokens} tokens)",
            dim=True)  # fmt: skip
    finally:
        await manager.close()
        await providers.aclose()


async def run_remote(url: str, api_key: str | None, task: str, *, agent: str | None,
                     stream: bool, say: Callable[..., Any]) -> int:  # fmt: skip
    """Submit ``task`` to a gateway and follow it: ``POST /v1/agent/execute``, the task's
    events (SSE), then ``GET /v1/tasks/{id}``.

    Returns:
        The exit code: 0 when the task succeeded, 1 when it failed or was cancelled, 2 when the
        gateway refused it (its error code printed in one line).
    """
    import json

    import httpx

    from orchestrator.agents.workflow import pieces

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(base_url=url, headers=headers,
                                 timeout=httpx.Timeout(30, read=None)) as http:  # fmt: skip
        body: dict[str, Any] = {"task": task, **({"agent": agent} if agent else {})}
        try:
            accepted = await http.post("/v1/agent/execute", json=body)
        except httpx.TransportError as exc:
            typer.echo(
                f"error: cannot reach the gateway at {url} ({exc}); is it running?", err=True
            )
            return 2
        if accepted.status_code >= 400:
            error = _error_of(accepted)
            typer.echo(f"error [{error.get('code')}]: {error.get('message')}", err=True)
            return 2
        task_id = accepted.json()["task_id"]
        if stream:
            say(f"· task {task_id}", dim=True)
        view = LocalContext(None, None, say, stream)
        async with http.stream("GET", f"/v1/tasks/{task_id}/events") as events:
            async for line in events.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                kind = event.get("type")
                if kind == "step.progress":
                    data = event.get("data")
                    if stream and isinstance(data, dict) and data.get("event") == "agent.routed":
                        say(f"· routed to {data['agent_name']} (confidence "
                            f"{data['confidence']}): {data['reasoning']}", dim=True)  # fmt: skip
                    view.emit(data)
                elif kind == "step.chunk" and stream:
                    sys.stdout.write(str(event.get("data") or ""))
                    sys.stdout.flush()
                elif kind in ("job.succeeded", "job.failed", "job.cancelled"):
                    break
        if stream:
            sys.stdout.write("\n")
        got = (await http.get(f"/v1/tasks/{task_id}")).json()
    result = got.get("result") or {}
    if got.get("status") != "succeeded":
        error = got.get("error") or {}
        typer.echo(f"task {got.get('status')} [{error.get('code')}]: {error.get('message')}",
                   err=True)  # fmt: skip
        return 1
    if not stream:
        say("".join(pieces(str(result.get("content") or ""))))
    for c in result.get("citations") or []:
        title = f" — {c['title']}" if c.get("title") else ""
        say(f"[source] {c['source']}{title}", dim=True)
    usage = got.get("usage") or {}
    say(f"({got.get('selected_agent')} agent, {usage.get('calls', 0)} LLM calls, "
        f"{usage.get('total_tokens', 0)} tokens, ${got.get('cost_usd') or 0:.4f})", dim=True)  # fmt: skip
    return 0


def _error_of(response: Any) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    return error if isinstance(error, dict) else {"code": str(response.status_code),
                                                   "message": response.text[:200]}  # fmt: skip


def _has_provider(settings: Settings, model: str | None) -> bool:
    reference = model or settings.llm.default_model
    provider = reference.partition(":")[0]
    if provider == "anthropic":
        return bool(settings.llm.anthropic_api_key or os.environ.get("ANTHROPIC_API_KEY"))
    if provider == "openai":
        return bool(settings.llm.openai_api_key or os.environ.get("OPENAI_API_KEY")
                    or settings.llm.openai_base_url or os.environ.get("OPENAI_BASE_URL"))  # fmt: skip
    return True  # another registered provider: let the registry say


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


@contextmanager
def _fakellm() -> Iterator[str]:
    """``fakellm serve`` with the example's recorded rules on a free port; its base URL."""
    exe = shutil.which("fakellm", path=str(Path(sys.executable).parent)) or shutil.which("fakellm")
    if exe is None:
        typer.echo(f"{FAKE_PREFIX}--model fake needs fakellm: pip install fakellm", err=True)
        raise typer.Exit(2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--config", str(EXAMPLE / "fakellm.yaml")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            try:
                httpx.get(f"{url}/_fakellm/stats", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    typer.echo(f"{FAKE_PREFIX}fakellm did not start on port {port}", err=True)
                    raise typer.Exit(2) from None
                time.sleep(0.05)  # readiness poll, bounded by the deadline
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


__all__ = ["FAKE_PREFIX", "NO_PROVIDER", "LocalContext", "register", "run_remote", "run_task"]
