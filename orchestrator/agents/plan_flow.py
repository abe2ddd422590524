"""A ``plan`` envelope that names a flow, as the engine runs it (DESIGN §17, §18).

The steps, with :class:`~orchestrator.agents.flows.AgentFlows` doing the work outside the step:
resolve the flow (a durable call: a resumed attempt runs the version it resolved first),
validate it for the job's submitter (and, for a flow the model proposed, against the agent's
own tools), ask the user to approve it when the agent's settings say so (``ctx.ask``), start it
as a job of its own and wait for its end (a durable call: a resumed attempt finds the job it
started). What the model is told is the returned payload, never an exception.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.agents.base import Agent, offers
from orchestrator.agents.envelope import PlanEnvelope
from orchestrator.agents.flows import APPROVAL_SCHEMA, FlowRefused, ResolvedFlow
from orchestrator.agents.turns import cut
from orchestrator.errors import OrchestratorError
from orchestrator.jobs.actor import Actor

if TYPE_CHECKING:
    from orchestrator.agents.engine import AgentEngine


async def run_plan_flow(engine: AgentEngine, plan: PlanEnvelope) -> dict[str, Any]:
    """Run the flow a plan names (a flow tag or a proposed definition) as a job of its own
    (:mod:`orchestrator.agents.flows`); what the model is told.

    Resolving and running are durable calls of the attempt: a resumed attempt runs the
    version it resolved first and finds the job it started instead of starting another.
    """
    label = plan.flow or "proposed"
    flows = getattr(getattr(engine.ctx, "agents", None), "flows", None)
    journal = getattr(engine.ctx, "calls", None)
    if flows is None or journal is None:
        return {"flow": label, "ok": False, "error": {
            "code": "flows_unavailable", "message": "this worker cannot run flows"}}  # fmt: skip
    engine.count_calls(1)
    actor = Actor.of_principal(engine.ctx.principal)
    request = {"flow": plan.flow, "definition": plan.flow_definition}
    try:
        raw = await journal.call("agent:flow_resolve", request,
                                 lambda: _resolve(flows, actor, plan))  # fmt: skip
        resolved = ResolvedFlow.from_json(raw)
        wf = await flows.validate(actor, resolved, _plane(engine), job_id=engine.ctx.job_id)
        if resolved.proposed:
            _check_offered(engine.agent, wf)
    except OrchestratorError as exc:
        if not engine.replaying:
            engine.emit("agent.flow_refused", flow=label, error=exc.code, details=exc.details)
        return {"flow": label, "ok": False, "error": exc.to_dict()}
    if _needs_approval(engine, resolved):
        answer = await engine.ctx.ask(_approval_question(resolved, wf, plan.flow_inputs),
                                    schema=APPROVAL_SCHEMA)  # fmt: skip
        if not (isinstance(answer, dict) and answer.get("approved") is True):
            comment = answer.get("comment") if isinstance(answer, dict) else None
            return {"flow": label, "ok": False, "error": {
                "code": "flow_declined", "message": "the user did not approve the flow",
                "comment": comment}}  # fmt: skip
    slot = journal.slot("agent:flow_run", {"name": wf.name, "source": resolved.source,
                                           "inputs": plan.flow_inputs})  # fmt: skip
    record = await slot.lookup()
    if record is not None:
        return dict(record.result)
    t0 = time.perf_counter()
    key = f"agent-flow:{engine.ctx.job_id}:{engine.ctx.step}:{slot.seq}"
    try:
        job_id = await flows.start(actor, wf, dict(plan.flow_inputs), key)
    except OrchestratorError as exc:  # inputs that do not fit the flow: the model may fix them
        return {"flow": label, "ok": False, "error": exc.to_dict()}
    engine.emit("agent.flow_started", flow=label, job_id=job_id, workflow=wf.name,
               version=resolved.version)  # fmt: skip

    def forward(event: Any) -> None:
        engine.emit("agent.flow_event", flow=label, job_id=job_id, type=event.type,
                   step=event.step)  # fmt: skip

    outcome = await flows.wait(actor, job_id, on_event=forward,
                               timeout_seconds=engine.limits.flow_timeout_seconds)  # fmt: skip
    outcome = {"flow": label, "ok": outcome["status"] == "succeeded", **outcome}
    if "result" in outcome:
        outcome["result"] = cut(outcome["result"], engine.limits.tool_result_max_chars)
    engine.emit("agent.flow_finished", flow=label, job_id=job_id, status=outcome["status"])
    await slot.record(outcome, (time.perf_counter() - t0) * 1000)
    return outcome


async def _resolve(flows: Any, actor: Any, plan: PlanEnvelope) -> Any:
    """The flow as its durable record holds it (:meth:`ResolvedFlow.to_json`)."""
    resolved: ResolvedFlow = await flows.resolve(actor, plan)
    return resolved.to_json()


def _plane(engine: AgentEngine) -> Any:
    """The MCP plane (for the tools' existence), or ``None`` without ``ctx.tools``."""
    return getattr(engine.tools, "manager", None) if engine.tools is not None else None


def _check_offered(agent: Agent, wf: Any) -> None:
    for step_name, tool in wf.tools.items():
        if not offers(agent, tool):
            raise FlowRefused(
                f"step {step_name!r}: tool: {tool} is not one of this agent's tools",
                details={"step": step_name, "field": "tool", "tool": tool},
            )


def _needs_approval(engine: AgentEngine, flow: ResolvedFlow) -> bool:
    mode = getattr(engine.agent, "flow_approval", None) or engine.limits.flow_approval
    return mode == "always" or (mode == "proposed" and flow.proposed)


def _approval_question(flow: ResolvedFlow, wf: Any, inputs: Mapping[str, Any]) -> str:
    """The question asking the user to approve ``flow``: what each step does, and the inputs."""
    what = (f"the flow {flow.name.removeprefix('flow:')} (version {flow.version})"
            if not flow.proposed else "a new flow it wrote")  # fmt: skip
    lines = [f"The agent wants to run {what}:"]
    for s in wf.definition.steps:
        does = (f"calls {s.tool}" if s.tool else "asks you" if s.ask else "prompts a model")
        after = f" after {', '.join(s.depends_on)}" if s.depends_on else ""
        lines.append(f"- {s.name}: {does}{after}")
    lines.append(f"with inputs {json.dumps(dict(inputs), sort_keys=True, default=str)[:1000]}.")
    lines.append("Approve it?")
    return "\n".join(lines)


__all__ = ["run_plan_flow"]
