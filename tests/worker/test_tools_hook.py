"""``ctx.tools`` in a worker: step errors of the tool plane are retried or not by their nature,
calls act as the job's submitter and are audited with the job (real SDK-built MCP server)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from orchestrator.config import Settings
from orchestrator.jobs.actor import Actor
from orchestrator.mcp.policy import ToolDecision
from orchestrator.services import Services
from orchestrator.types import JobStatus
from tests.conftest import wait_until
from tests.support.jobs import submit, wait_for_end
from tests.support.mcp_servers import HttpServer, free_port, http_config, http_test_server
from tests.support.stack import in_process_stack
from tests.worker import tools_flows
from worker.runner import build_worker, stop_worker
from worker.tools import ToolsHook

SettingsFactory = Callable[..., Settings]


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_test_server() as s:
        yield s


def settings_of(isolated_settings: SettingsFactory, server: HttpServer) -> Settings:
    down = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    return isolated_settings(
        mcp={
            "servers": [http_config("t", server.url), http_config("down", down, timeout_seconds=2)]
        }
    )


async def test_an_unreachable_server_is_a_retryable_step_error(
    isolated_settings: SettingsFactory, server: HttpServer
) -> None:
    settings = settings_of(isolated_settings, server)
    async with in_process_stack(settings, tools_flows.registry()) as stack:
        state = await wait_for_end(stack.services, await submit(stack, "tools_unreachable"),
                                   timeout_seconds=30)  # fmt: skip

    assert state.status is JobStatus.FAILED
    step = state.steps["unreachable"]
    assert step.attempt == 2
    assert isinstance(step.error, dict) and step.error["code"] == "mcp_unavailable"


async def test_schema_failures_are_not_retried_and_reach_no_server(
    isolated_settings: SettingsFactory, server: HttpServer
) -> None:
    server.reset()
    async with in_process_stack(settings_of(isolated_settings, server),
                                tools_flows.registry()) as stack:  # fmt: skip
        state = await wait_for_end(stack.services, await submit(stack, "tools_bad_arguments"))

    assert state.status is JobStatus.FAILED
    assert state.steps["bad_arguments"].attempt == 1
    error = state.steps["bad_arguments"].error
    assert isinstance(error, dict) and error["code"] == "tool_arguments_invalid"
    assert error["details"]["field"] == "/text"
    assert server.stats()["calls"] == {}


class NoCounting:
    def __init__(self) -> None:
        self.intents: list[str | None] = []

    async def decide(
        self, actor: Actor, tool: str, arguments: Mapping[str, Any] | None, *,
        intent: str | None = None,
    ) -> ToolDecision:  # fmt: skip
        self.intents.append(intent)
        return ToolDecision(tool != "t/count", tag="no-count" if tool == "t/count" else "default")


async def test_a_refused_call_fails_the_step_at_once_and_is_audited_for_the_submitter(
    isolated_settings: SettingsFactory, server: HttpServer
) -> None:
    settings = settings_of(isolated_settings, server)
    registry = tools_flows.registry()
    async with in_process_stack(settings, registry, with_worker=False) as stack:
        services = await Services.open(settings, registry)
        policy = NoCounting()
        worker = build_worker(services, handle_signals=False,
                              tools=ToolsHook(services, policy=policy))  # fmt: skip
        task = asyncio.ensure_future(worker.async_run())
        try:
            job_id = await submit(stack, "tools_counted")
            state = await wait_for_end(stack.services, job_id)
        finally:
            await stop_worker(worker, task)
            await services.close()

        async def audited() -> bool:
            rows, _ = await stack.services.trace.list_audit(action="tool.refused", job_id=job_id)
            return len(rows) == 1

        await wait_until(audited, what="the tool.refused row")
        [row], _ = await stack.services.trace.list_audit(action="tool.refused", job_id=job_id)

    assert state.status is JobStatus.FAILED
    assert state.steps["counted"].attempt == 1
    error = state.steps["counted"].error
    assert isinstance(error, dict) and error["code"] == "tool_forbidden"
    assert row.actor == state.user_id and row.tenant_id == stack.tenant
    assert row.details is not None and row.details["tag"] == "no-count"
    assert policy.intents == ["tools_counted"]  # the job's workflow, as ctx.policy decides


async def test_the_tool_span_is_a_child_of_the_step_attempts_span(
    isolated_settings: SettingsFactory, server: HttpServer
) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from orchestrator.telemetry import setup_telemetry

    exporter = InMemorySpanExporter()
    shutdown = setup_telemetry(Settings(), "orchestrator-test", span_exporter=exporter,
                               set_global=False)  # fmt: skip
    try:
        async with in_process_stack(settings_of(isolated_settings, server),
                                    tools_flows.registry()) as stack:  # fmt: skip
            state = await wait_for_end(stack.services, await submit(stack, "tools_echoed"))
        assert state.status is JobStatus.SUCCEEDED, state.error

        async def ended() -> bool:
            names = {s.name for s in exporter.get_finished_spans()}
            return {"step echoed", "execute_tool t/echo"} <= names

        await wait_until(ended, what="the step and tool spans")
    finally:
        shutdown()
    spans = exporter.get_finished_spans()
    [step_span] = [s for s in spans if s.name == "step echoed"]
    [tool_span] = [s for s in spans if s.name == "execute_tool t/echo"]
    assert tool_span.parent is not None
    assert tool_span.parent.span_id == step_span.context.span_id
    assert tool_span.attributes is not None and tool_span.attributes["mcp.server"] == "t"
