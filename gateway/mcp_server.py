"""``/mcp``: the orchestrator as an MCP server (streamable HTTP; the official ``mcp`` SDK's
lowlevel server and session manager, MCP spec 2026-07-28, stateless).

Each workflow the caller may run is an MCP tool: the registered workflows (by name, ``:``
written ``_``; the built-in agent workflow when registered) and the flow tags assigned to the
caller whose every tool the caller's tag policy allows (``flow.<tag>``). A tool's input schema is
the workflow's inputs schema. A call submits a job as the caller (the same validation, policy,
audit row ``job.submit`` and rate limits as ``POST /v1/jobs``), reports each finished step as an
MCP progress notification (when the client sent a progress token), and returns the job's result
as structured content (``is_error`` when the job failed, was cancelled, or could not start).
A job that asks a question (``ctx.ask``, a flow's ``ask`` step, an agent's clarification or flow
approval) is answered in place by clients of MCP 2026-07-28: the call returns an
``InputRequiredResult`` holding the question as a form elicitation, and the client's retry with
the answer resumes the job (:mod:`gateway.mcp_questions`); older clients get an error naming
``POST /v1/jobs/{id}/input``.

Authentication is the API's: a request without a valid API key (or bearer token) is refused
with 401 before the MCP layer sees it.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from gateway.auth import audit_refusal, require, should_audit
from gateway.errors import auth_headers, error_body, status_for
from gateway.mcp_questions import Pending, answer_of, input_required
from gateway.streaming.events import job_events
from orchestrator.auth import Permission
from orchestrator.dag.workflow import Workflow
from orchestrator.errors import DagError, OrchestratorError, ToolError, WorkflowNotFoundError
from orchestrator.flows import FlowWorkflow
from orchestrator.flows.validate import flow_of_tag, runnable_flows, validate_flow_for
from orchestrator.jobs import Actor, JobService

if TYPE_CHECKING:
    from fastapi import FastAPI

FLOW_TOOL_PREFIX = "flow."
INPUT_REQUIRED_SINCE = "2026-07-28"
"""The MCP protocol version from which a tool call may answer ``input_required``."""
ACTOR_STATE = "orch_actor"


def tool_name(workflow: str) -> str:
    """The MCP tool name of a registered workflow (MCP names: letters, digits, ``_ - .``)."""
    return workflow.replace(":", "_")


class McpEndpoint:
    """The ``/mcp`` ASGI endpoint of a gateway.

    Args:
        app: The gateway's FastAPI app (its ``state`` holds the services, jobs and stream hub).
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.server: Server[Any] = Server(
            "agent-orchestrator",
            instructions="Each tool runs a workflow of the orchestrator as a job and returns "
            "its result.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self.manager = StreamableHTTPSessionManager(app=self.server, stateless=True)
        self._require = require(Permission.JOB_SUBMIT, rate="submit")

        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    async def _started(self) -> None:
        """Start the session manager on first use, in a task of its own: its anyio task group
        is entered and left by that one task, whichever tasks run the app's lifespan."""
        async with self._lock:
            if self._task is not None:
                return
            ready = asyncio.Event()

            async def run() -> None:
                async with self.manager.run():
                    ready.set()
                    await self._stop.wait()

            self._task = asyncio.create_task(run())
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait([self._task, waiter], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if self._task.done():
                self._task.result()  # raises what stopped it

    async def close(self) -> None:
        """Stop the session manager (bounded), if it was started."""
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, timeout=10)
        except (TimeoutError, Exception):  # a manager that would not stop: leave it
            self._task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate as the API does, then hand the request to the MCP transport."""
        request = Request(scope, receive)
        try:
            actor = await self._require(request)
        except OrchestratorError as exc:
            status = status_for(exc)
            if should_audit(request, exc, status):  # refusals are audited as on the API
                await audit_refusal(request, status=status, code=exc.code,
                                    reason=exc.details.get("reason"))  # fmt: skip
            response = JSONResponse(error_body(exc.code, exc.message, exc.details),
                                    status_code=status, headers=auth_headers(exc))  # fmt: skip
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[ACTOR_STATE] = actor
        await self._started()
        await self.manager.handle_request(scope, receive, send)

    # -- MCP handlers ----------------------------------------------------------------------

    @property
    def jobs(self) -> JobService:
        jobs: JobService = self.app.state.jobs
        return jobs

    @staticmethod
    def _actor(ctx: Any) -> Actor:
        actor: Actor = ctx.request.scope["state"][ACTOR_STATE]
        return actor

    async def _workflows(self, actor: Actor) -> dict[str, Workflow]:
        """``{tool name: workflow}`` that ``actor`` may run."""
        services = self.jobs.services
        found: dict[str, Workflow] = {tool_name(wf.name): wf for wf in services.registry}
        for tag in await runnable_flows(services, actor):
            try:
                wf = await validate_flow_for(actor, tag.tag.payload.content, services=services,
                                             name=f"flow:{tag.name}", audit=False)  # fmt: skip
            except (DagError, ToolError):
                continue  # invalid, or calls a tool outside the caller's tags: not listed
            found[f"{FLOW_TOOL_PREFIX}{tag.name}"] = wf
        return found

    async def _list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        tools = []
        for name, wf in (await self._workflows(self._actor(ctx))).items():
            if isinstance(wf, FlowWorkflow):
                schema = wf.input_schema
                description = wf.definition.description or f"Run flow {wf.name}."
            else:
                schema = wf.input_model.model_json_schema()
                doc = next((s.fn.__doc__ for s in wf.steps.values() if s.fn.__doc__), None)
                description = (doc or f"Run workflow {wf.name}.").strip().split("\n")[0]
            tools.append(types.Tool(name=name, description=description, input_schema=schema))
        return types.ListToolsResult(tools=tools)

    async def _call_tool(
        self, ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        actor = self._actor(ctx)
        if params.request_state is not None:  # the client answers the job's question
            pending = Pending.decode(params.request_state)
            if pending is None:
                return _error({"code": "request_state_invalid",
                               "message": "requestState is not one this server issued"})  # fmt: skip
            return await self._answer(ctx, actor, pending, params.input_responses)
        services = self.jobs.services
        try:
            flow: FlowWorkflow | None = None
            if params.name.startswith(FLOW_TOOL_PREFIX):
                flow, _ = await flow_of_tag(services, actor, params.name[len(FLOW_TOOL_PREFIX) :])
                workflow = flow.name
            else:
                match = [w.name for w in services.registry if tool_name(w.name) == params.name]
                if not match:
                    raise WorkflowNotFoundError(f"no tool {params.name!r}",
                                                details={"tool": params.name})  # fmt: skip
                workflow = match[0]
            wf = flow if flow is not None else services.registry.get(workflow)
            record, _ = await self.jobs.submit_once(workflow, dict(params.arguments or {}),
                                                    actor=actor, flow=flow)  # fmt: skip
        except OrchestratorError as exc:
            return _error(exc.to_dict())
        return await self._follow(ctx, record.id, None, float(len(wf.steps)))

    async def _answer(
        self, ctx: Any, actor: Actor, pending: Pending, responses: Any
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Answer the job's question with the client's response, then follow the job again."""
        action, answer = answer_of(pending, responses)
        if action != "accept":
            return _error({"code": "answer_declined", "job_id": pending.job_id,
                           "message": f"no answer ({action}): the job still waits; answer it at "
                           f"POST /v1/jobs/{pending.job_id}/input"})  # fmt: skip
        try:
            await self.jobs.answer(pending.job_id, answer, actor=actor, step=pending.step or None)
        except OrchestratorError as exc:
            return _error({**exc.to_dict(), "job_id": pending.job_id})
        return await self._follow(ctx, pending.job_id, pending.after, None)

    async def _follow(
        self, ctx: Any, job_id: str, after: str | None, total: float | None
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Follow the job's events from ``after``: progress notifications per finished step,
        its question as an input request (MCP 2026-07-28 clients) or an error naming the input
        route (older clients), and its result at its end."""
        services = self.jobs.services
        done = 0.0
        async for event in job_events(services.state, job_id, after, self.app.state.hub):
            if event.type == "step.succeeded":
                done += 1
                await ctx.session.report_progress(done, total, f"{event.step} succeeded")
            if event.type == "job.waiting":
                question = event.data if isinstance(event.data, dict) else {}
                if str(getattr(ctx, "protocol_version", "")) >= INPUT_REQUIRED_SINCE:
                    return input_required(job_id, event.id, question)
                return _error({"code": "job_waiting", "message": "the job waits for an answer: "
                               f"POST /v1/jobs/{job_id}/input", "details": event.data,
                               "job_id": job_id})  # fmt: skip
        state = await services.state.get_job(job_id)
        if state is None or state.status.value != "succeeded":
            error = state.error if state is not None else {"code": "job_expired"}
            return _error({"job_id": job_id, "status": state.status.value if state else None,
                           "error": error})  # fmt: skip
        result = {"job_id": job_id, "result": state.result}
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(state.result, default=str))],
            structured_content=result,
        )


def _error(payload: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(payload, default=str))],
        structured_content=payload, is_error=True,
    )  # fmt: skip


__all__ = ["McpEndpoint", "tool_name"]
