"""Flows from a ``plan`` envelope: a flow tag, or a flow the model proposes (DESIGN §17, §18).

The engine hands a plan that names ``flow`` or ``flow_definition`` to :class:`AgentFlows`:

1. **Resolve** (a durable call of the step attempt): a flow tag's current version, or the
   proposed definition, as canonical JSON. Recorded, so a resumed attempt (after a worker died,
   or after the user answered the approval question) runs exactly the version it resolved first.
2. **Validate** for the job's submitter, before anything runs: the flow compiles (``DagError``s
   name the step and field), every tool step's tool is one the user's tags allow for the flow
   (the decision the worker makes for each call; a refusal is audited ``tool.refused``), exists
   on the MCP plane, and, for a proposed flow, is one of the agent's tools.
3. **Approve** when the agent's settings require it (``flow_approval``): ``ctx.ask`` shows the
   flow and waits for ``{"approved": bool, "comment"?}`` (the job waits; the worker is freed).
4. **Run** (a durable call): the flow is submitted as a job of its own, as the submitter, traced
   as a child of the agent's step, with an idempotency key made of the parent job, step and
   call number, so a resumed attempt finds the same job instead of starting another; the
   agent waits for its end (bounded by
   ``flow_timeout_seconds``), forwarding its progress as ``agent.flow_event`` events, and its
   result goes back to the model.

While the flow runs, the agent's job holds its worker slot (as a Celery task waiting on a
subtask does): a deployment that runs agents with flows needs more than one job slot in all
(``ORCH_WORKER__MAX_JOBS`` > 1, or KEDA's one-job pods).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import DagError, OrchestratorError
from orchestrator.jobs.actor import Actor
from orchestrator.types import JobStatus

if TYPE_CHECKING:
    from orchestrator.agents.envelope import PlanEnvelope
    from orchestrator.flows.compiler import FlowWorkflow
    from orchestrator.services import Services

APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean", "description": "Run the flow as shown."},
        "comment": {"type": "string", "maxLength": 2000, "description": "Why, for the agent."},
    },
    "required": ["approved"],
    "additionalProperties": False,
}
"""The answer the approval question takes."""

FORWARDED = frozenset({"job.started", "step.succeeded", "step.failed", "job.waiting"})
"""The flow job's events the agent forwards as ``agent.flow_event`` (its progress)."""


class FlowRefused(OrchestratorError):
    """A proposed flow calls a tool that is not one of the agent's tools."""

    code = "tool_not_offered"


@dataclass(frozen=True, slots=True)
class ResolvedFlow:
    """A flow ready to validate: its job's workflow name, version and canonical definition."""

    name: str
    source: str
    version: int | None = None
    proposed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "version": self.version,
                "proposed": self.proposed}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> ResolvedFlow:
        return cls(str(data["name"]), str(data["source"]), data.get("version"),
                   bool(data.get("proposed")))  # fmt: skip


def _traceparent() -> dict[str, str] | None:
    """The current span (the agent's step) as a W3C ``traceparent``, so that the flow's job is
    traced as its child (W3C Trace Context §3.2)."""
    from opentelemetry import trace

    sc = trace.get_current_span().get_span_context()
    if not sc.is_valid:
        return None
    return {"traceparent": f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"}


class AgentFlows:
    """What the engine needs to list, validate and run flows (one per worker process).

    Args:
        services: The worker's services (tag store and policy, the job store and queue).
    """

    def __init__(self, services: Services) -> None:
        self.services = services

    async def runnable(self, actor: Actor) -> list[dict[str, Any]]:
        """The flow tags ``actor`` may run, as the model is shown them: ``{"name",
        "description", "inputs"}`` (``inputs``: the JSON Schema of its inputs); tags whose
        content no longer compiles are left out."""
        from orchestrator.flows.compiler import FLOW_PREFIX, compile_flow
        from orchestrator.flows.validate import runnable_flows

        out = []
        for tag in await runnable_flows(self.services, actor):
            try:
                wf = compile_flow(tag.tag.payload.content, name=f"{FLOW_PREFIX}{tag.name}")
            except DagError:
                continue
            meta = tag.tag.payload.meta
            out.append({"name": tag.name, "description": meta.description or meta.title,
                        "inputs": wf.input_schema})  # fmt: skip
        return sorted(out, key=lambda f: f["name"])

    async def resolve(self, actor: Actor, plan: PlanEnvelope) -> ResolvedFlow:
        """The flow ``plan`` names, as canonical JSON (not yet checked against policy).

        Raises:
            TagNotFoundError: No flow tag of that name the actor may run.
            DagError: The proposed definition does not compile (naming the step and field).
        """
        from orchestrator.errors import TagNotFoundError
        from orchestrator.flows.compiler import FLOW_PREFIX, compile_flow
        from orchestrator.flows.validate import runnable_flows

        if plan.flow is not None:
            found = next((t for t in await runnable_flows(self.services, actor)
                          if t.name == plan.flow), None)  # fmt: skip
            if found is None:
                raise TagNotFoundError(f"no flow tag {plan.flow!r} that you may run",
                                       details={"tag": plan.flow})  # fmt: skip
            name = f"{FLOW_PREFIX}{found.name}"
            wf = compile_flow(found.tag.payload.content, name=name)
            return ResolvedFlow(name, wf.source, found.version)
        wf = compile_flow(plan.flow_definition, name=f"{FLOW_PREFIX}proposed")
        return ResolvedFlow(wf.name, wf.source, proposed=True)

    async def validate(
        self, actor: Actor, flow: ResolvedFlow, tools: Any, *, job_id: str | None = None
    ) -> FlowWorkflow:
        """Check ``flow`` for ``actor`` (tag policy, tools known to the plane ``tools``); a
        refusal's audit row names ``job_id`` (the agent's job).

        Raises:
            DagError, ToolForbiddenError: As
                :func:`~orchestrator.flows.validate.validate_flow_for`.
        """
        from orchestrator.flows.validate import validate_flow_for

        return await validate_flow_for(actor, json.loads(flow.source), services=self.services,
                                       tools=tools, name=flow.name, job_id=job_id)  # fmt: skip

    async def start(self, actor: Actor, wf: FlowWorkflow, inputs: dict[str, Any],
                    key: str) -> str:  # fmt: skip
        """Submit ``wf`` as a job of ``actor`` under idempotency key ``key``; its id.

        Raises:
            InputValidationError: ``inputs`` do not fit the flow's inputs.
        """
        from orchestrator.jobs.service import JobService

        record, _ = await JobService(self.services).submit_once(
            wf.name, inputs, actor=actor, idempotency_key=key, flow=wf, trace=_traceparent()
        )
        return record.id

    async def wait(
        self, actor: Actor, job_id: str, *, timeout_seconds: float, on_event: Any = None
    ) -> dict[str, Any]:
        """Wait for job ``job_id`` to end; ``{"job_id", "status", "result" | "error"}``.

        Args:
            actor: Who started it (cancels it on a timeout).
            timeout_seconds: Bound on the wait; past it the job is cancelled and the status is
                ``timed_out``.
            on_event: Called with each of the job's events of a :data:`FORWARDED` type.
        """
        state = self.services.state
        deadline = time.monotonic() + timeout_seconds
        after = "0-0"
        while True:
            job = await state.get_job(job_id)
            if job is not None and job.status.is_terminal:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                await self._cancel(actor, job_id)
                error = {"code": "flow_timeout",
                         "message": f"the flow did not end in {timeout_seconds:g} s"}  # fmt: skip
                return {"job_id": job_id, "status": "timed_out", "error": error}
            for event in await state.wait_events(job_id, after, timeout_seconds=min(left, 2.0)):
                after = event.id
                if on_event is not None and event.type in FORWARDED:
                    on_event(event)
        out: dict[str, Any] = {"job_id": job_id, "status": job.status.value}
        if job.status is JobStatus.SUCCEEDED:
            out["result"] = job.result
        else:
            out["error"] = job.error
        return out

    async def _cancel(self, actor: Actor, job_id: str) -> None:
        from orchestrator.jobs.service import JobService

        try:
            await JobService(self.services).cancel(job_id, actor=actor)
        except OrchestratorError:
            pass  # it ended meanwhile


__all__ = ["APPROVAL_SCHEMA", "AgentFlows", "FlowRefused", "ResolvedFlow"]
