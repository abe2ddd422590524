"""The built-in ``agent`` workflow (DESIGN §17, §20): a task as a job.

::

    route ──> run_agent ──> reply (streams)

Inputs: ``task`` (the user's request), ``session_id`` (optional; the session it belongs to),
``history`` (optional list of ``{"role", "content"}`` messages of the session), ``agent``
(optional: skip the router and use this agent). The gateway and the worker register it without
an ``ORCH_WORKFLOWS`` entry. ``route`` asks PeerAgent and stores the decision on the task;
``run_agent`` runs the envelope engine and returns the ``AgentOutput`` (the task's result);
``reply`` streams the reply's content as ``step.chunk`` events (the job's result is
``{"reply": content}``). Every LLM and tool call inside is a durable call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from orchestrator.agents.engine import AgentEngine
from orchestrator.agents.errors import UnknownTaskTypeError
from orchestrator.agents.router import RoutingDecision, classify_task, route_to_agent
from orchestrator.agents.runtime import AgentRuntime
from orchestrator.dag.context import StepContext
from orchestrator.dag.step import step
from orchestrator.dag.workflow import workflow

AGENT_WORKFLOW = "agent"
REPLY_CHUNK_CHARS = 80
"""The reply is streamed in pieces of about this many characters, cut after a space."""


def runtime_of(ctx: StepContext) -> AgentRuntime:
    """``ctx.agents``, attached by the worker.

    Raises:
        RuntimeError: Outside a worker with the agent layer.
    """
    runtime = ctx.agents
    if not isinstance(runtime, AgentRuntime):
        raise RuntimeError("ctx.agents is attached by the worker's agents hook")
    return runtime


@step(retries=2, retry_backoff_seconds=0.5)
async def route(
    task: str,
    ctx: StepContext,
    session_id: str | None = None,
    history: list[dict[str, Any]] | None = None,
    agent: str | None = None,
) -> dict[str, Any]:
    """Pick the agent (PeerAgent's ``classify_task``, or the caller's ``agent``) and store it.

    Raises:
        UnknownTaskTypeError: Below ``ORCH_AGENTS__MIN_CONFIDENCE`` or an unknown agent name.
        AgentNotFoundError: ``agent`` names no registered agent.
    """
    rt = runtime_of(ctx)
    if agent is not None:
        rt.registry.get(agent)
        decision = RoutingDecision(
            agent_name=agent, confidence=1.0, reasoning="chosen by the caller"
        )
    else:
        decision = await classify_task(ctx.llm, rt.registry, task, history=history or [],
                                       model=rt.settings.router_model)  # fmt: skip
    try:
        route_to_agent(decision, rt.registry, min_confidence=rt.settings.min_confidence)
        accepted = True
    except UnknownTaskTypeError:
        accepted = False
    if rt.store is not None:
        p = ctx.principal
        await rt.store.record_route(
            ctx.job_id, **decision.model_dump(), accepted=accepted, task=task,
            tenant_id=p.get("tenant_id"), user_id=p.get("user_id"), session_id=session_id,
        )  # fmt: skip
    ctx.emit({"event": "agent.routed", **decision.model_dump(), "accepted": accepted,
              "min_confidence": rt.settings.min_confidence})  # fmt: skip
    route_to_agent(decision, rt.registry, min_confidence=rt.settings.min_confidence)
    return decision.model_dump()


@step(depends_on=[route], retries=2, retry_backoff_seconds=0.5)
async def run_agent(
    route: dict[str, Any], task: str, ctx: StepContext, history: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Run the routed agent's envelope loop; its ``AgentOutput`` as JSON.

    Raises:
        EnvelopeInvalidError, AgentLimitError, AgentReportedError: The run failed (not retried).
    """
    rt = runtime_of(ctx)
    agent = rt.registry.get(route["agent_name"])
    output = (await AgentEngine(agent, ctx, rt.settings).run(task, history or [])).model_dump()
    if rt.store is not None:
        await rt.store.record_output(ctx.job_id, output)
    return output


@step(depends_on=[run_agent], streams=True)
async def reply(run_agent: dict[str, Any]) -> AsyncIterator[str]:
    """The reply's content as ``step.chunk`` events, in pieces."""
    for piece in pieces(str(run_agent.get("content") or "")):
        yield piece


def pieces(text: str, size: int = REPLY_CHUNK_CHARS) -> list[str]:
    """``text`` cut into pieces of about ``size`` characters (after a space when one is near);
    joined they are ``text``. An empty text is one empty piece."""
    out: list[str] = []
    while len(text) > size:
        cut = text.rfind(" ", size // 2, size) + 1 or size
        out.append(text[:cut])
        text = text[cut:]
    out.append(text)
    return out


agent = workflow(AGENT_WORKFLOW, reply)

__all__ = ["AGENT_WORKFLOW", "agent", "pieces", "reply", "route", "run_agent", "runtime_of"]
