"""The envelope engine: an agent's decision loop as a state machine over envelopes (DESIGN §17).

Each turn is one LLM call through ``ctx.llm`` offering one tool, ``envelope``, forced with
``tool_choice``; the answer is validated and dispatched:

* invalid (or no tool use) → re-asked with the validation errors as an error ``tool_result``, at
  most ``max_envelope_retries`` times in a row, then the run fails ``envelope_invalid``;
* ``tool`` / ``tools`` / ``plan`` → the calls go through ``ctx.tools`` (the user's tag policy
  decides each one before it is sent; every call is a durable call) and the results go back in
  ONE ``user`` message (one ``tool_result`` block answering the envelope's tool use); a refused
  call (``tool_forbidden``, audited by the tool plane) or a failed one is reported to the model
  as its result, not raised;
* ``reply`` → the run ends with the agent's :class:`AgentOutput`; a ``reply`` with ``ask`` is a
  question to the user: ``ctx.ask`` pauses the job (the worker is freed) and the answer comes
  back as the next message;
* ``error`` → the run fails ``agent_error``.

Durability: every LLM call and tool call is a durable call of the step attempt (DESIGN §13).
The loop is deterministic given the calls' results, so a resumed attempt (after a crash, or an
answer to ``ctx.ask``) replays the finished turns from their records, sending nothing, and goes
on at the first unfinished one.

Events (``step.progress`` with ``data.event``): ``agent.reply_delta`` (the final reply's text as
the model writes it, :mod:`orchestrator.agents.live`), ``agent.envelope`` (turn, type,
confidence, reasoning), ``agent.tool_call`` (turn, tool, arguments), ``agent.tool_result``
(turn, tool, ok, error code, content cut to ``event_max_chars``), ``agent.flow_*`` (a plan's
flow). Replayed turns and calls publish nothing again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from orchestrator.agents.base import Agent, offers
from orchestrator.agents.envelope import (
    ENVELOPE_TOOL,
    FORCE_ENVELOPE,
    AgentOutput,
    Citation,
    ErrorEnvelope,
    PlanEnvelope,
    ReplyEnvelope,
    ToolCall,
    ToolEnvelope,
    ToolsEnvelope,
    envelope_errors,
    envelope_tool,
    parse_envelope,
)
from orchestrator.agents.errors import AgentLimitError, AgentReportedError, EnvelopeInvalidError
from orchestrator.agents.live import LiveReply
from orchestrator.agents.plan_flow import run_plan_flow
from orchestrator.agents.router import history_messages
from orchestrator.agents.turns import (
    assistant_message,
    citation,
    cut,
    error_reply,
    summary,
    tool_reply,
)
from orchestrator.config import AgentsSettings
from orchestrator.errors import OrchestratorError
from orchestrator.jobs.actor import Actor

ENVELOPE_RULES = """Answer every turn by calling the envelope tool exactly once:
- type "tool": call one tool (name, arguments);
- type "tools": call several independent tools at once (calls: [{name, arguments}]);
- type "plan": ordered tool steps (steps: [{name, arguments, description}]), run until one fails;
  or a flow to run as a job of its own: a flow you may run (flow, flow_inputs), or a new flow
  made of your tools (flow_definition, flow_inputs), which the user may have to approve;
- type "reply": the final answer (content, citations, code_language), or set ask to a question
  when you need the user to clarify;
- type "error": you cannot do the task (message).
Tool results come back as the envelope's result. A refused or failed call is reported there."""


@dataclass(slots=True)
class _Outcome:
    """One tool call's outcome as told to the model."""

    tool: str
    ok: bool
    content: Any
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        if self.ok:
            return {"tool": self.tool, "ok": True, "content": self.content}
        return {"tool": self.tool, "ok": False, "error": self.error, "content": self.content}


class AgentEngine:
    """Runs one agent on one task inside a step attempt.

    Args:
        agent: The agent (its instructions, model, intent and tool patterns).
        ctx: The step's context: ``ctx.llm`` and ``ctx.tools`` (attached by the worker), ``emit``
            and ``ask``.
        limits: Turns, tool calls, tokens, cost, envelope retries (``ORCH_AGENTS__*``).

    Attributes:
        tools: ``ctx.tools`` for the agent's intent (its calls are decided as its prompt is).
        replaying: The current turn was answered from a durable record (nothing is announced
            again).
    """

    def __init__(self, agent: Agent, ctx: Any, limits: AgentsSettings) -> None:
        self.agent = agent
        self.ctx = ctx
        self.limits = limits
        self.turn = 0
        self.tool_calls = 0
        self.tokens = 0
        self.cost_usd = 0.0
        self._offered: set[str] = set()
        self.sources: list[Citation] = []
        self.replaying = False
        tools: Any = getattr(ctx, "tools", None)
        # the agent's calls are decided for its own intent, as its prompt is (DESIGN §15)
        self.tools: Any = tools.for_intent(agent.intent) if hasattr(tools, "for_intent") else tools

    async def run(self, task: str, history: Sequence[Mapping[str, Any]] = ()) -> AgentOutput:
        """Run the loop to a ``reply``.

        Args:
            task: The user's task.
            history: Earlier messages of the session (``{"role", "content"}``).

        Returns:
            The agent's output.

        Raises:
            EnvelopeInvalidError: Too many invalid envelopes in a row.
            AgentLimitError: Over a limit (turns, tool calls, tokens, cost).
            AgentReportedError: The model answered ``error``.
            LLMError, BudgetExceededError: An LLM call failed.
            WaitingForInput: A question to the user paused the job (control flow).
        """
        system = await self._system()
        messages: list[dict[str, Any]] = [*history_messages(history),
                                          {"role": "user", "content": task}]  # fmt: skip
        invalid = 0
        while True:
            if self.turn >= self.limits.max_turns:
                raise AgentLimitError(f"the agent took more than {self.limits.max_turns} turns",
                                      details={"limit": "turns", "max": self.limits.max_turns})  # fmt: skip
            self.turn += 1
            live = LiveReply(lambda text: self.emit("agent.reply_delta", text=text))
            result = await self.ctx.llm.complete(
                messages, model=self.agent.model, system=system, tools=[envelope_tool()],
                tool_choice=FORCE_ENVELOPE, max_tokens=self.limits.turn_max_tokens,
                on_tool_input=live.feed,
            )  # fmt: skip
            self._meter(result)
            self.replaying = result.replayed
            use = next((u for u in result.tool_uses if u.name == ENVELOPE_TOOL), None)
            assistant = assistant_message(result)
            try:
                if use is None:
                    raise _NoEnvelope()
                envelope = parse_envelope(use.input)
            except (ValidationError, _NoEnvelope) as exc:
                invalid += 1
                errors = (envelope_errors(exc) if isinstance(exc, ValidationError)
                          else [{"field": "", "message": "answer by calling the envelope tool"}])  # fmt: skip
                if not result.replayed:
                    self.emit("agent.envelope_invalid", errors=errors, retry=invalid)
                if invalid > self.limits.max_envelope_retries:
                    raise EnvelopeInvalidError(
                        f"no valid envelope after {invalid} answers",
                        details={"errors": errors, "turn": self.turn},
                    ) from None
                messages.append(assistant)
                messages.append(error_reply(result, use.id if use else None, errors))
                continue
            invalid = 0
            if not result.replayed:
                self.emit("agent.envelope", **summary(envelope))
            assert use is not None
            messages.append(assistant)
            if isinstance(envelope, ReplyEnvelope):
                if envelope.ask:
                    answer = await self.ctx.ask(envelope.ask)
                    messages.append(tool_reply(result, use.id, {"answer": answer}))
                    continue
                if not result.replayed:
                    live.finish(envelope.content)
                output = self.agent.output(envelope)
                if not output.citations and getattr(self.agent, "cite_tools", False):
                    output.citations = list(self.sources)  # the tool results it read
                return output
            if isinstance(envelope, ErrorEnvelope):
                raise AgentReportedError(envelope.message, details={
                    "message": envelope.message, "confidence": envelope.confidence,
                    "reasoning": envelope.reasoning})  # fmt: skip
            if isinstance(envelope, ToolEnvelope):
                calls = [ToolCall(name=envelope.name, arguments=envelope.arguments)]
                outcomes = await self._concurrently(calls)
                payload: dict[str, Any] = {"results": [o.to_json() for o in outcomes]}
            elif isinstance(envelope, ToolsEnvelope):
                outcomes = await self._concurrently(envelope.calls)
                payload = {"results": [o.to_json() for o in outcomes]}
            elif isinstance(envelope, PlanEnvelope) and envelope.steps:
                payload = {"plan": await self._plan(envelope)}
            else:
                assert isinstance(envelope, PlanEnvelope)
                payload = {"flow": await run_plan_flow(self, envelope)}
            messages.append(tool_reply(result, use.id, payload))

    async def _system(self) -> str:
        parts: list[str] = []
        if getattr(self.ctx, "prompter", None) is not None:
            tagged = await self.ctx.prompt(self.agent.intent)
            if tagged:
                parts.append(tagged)
        parts.append(self.agent.instructions)
        tools = await self._tools()
        if tools:
            listing = "\n".join(
                f"- {t['name']}: {t['description']} input schema: "
                f"{json.dumps(t['input_schema'], sort_keys=True)}"
                for t in tools
            )
            parts.append(f"Tools you may call (by name, in tool/tools/plan envelopes):\n{listing}")
        else:
            parts.append("You have no tools: answer with a reply envelope.")
        flows = await self._flows()
        if flows:
            listing = "\n".join(f"- {f['name']}: {f['description']} inputs schema: "
                                 f"{json.dumps(f['inputs'], sort_keys=True)}" for f in flows)  # fmt: skip
            parts.append("Flows you may run (a plan envelope with flow and flow_inputs):\n"
                         + listing)  # fmt: skip
        parts.append(ENVELOPE_RULES)
        return "\n\n".join(parts)

    async def _tools(self) -> list[dict[str, Any]]:
        """The tools the user may use (tag policy) and the agent is offered (its patterns)."""
        if not self.agent.tools or self.tools is None:
            return []
        listed = await self.tools.list()
        tools = [{"name": t.name, "description": t.description or "",
                  "input_schema": t.input_schema or {"type": "object"}}
                 for t in sorted(listed, key=lambda t: t.name) if offers(self.agent, t.name)]  # fmt: skip
        self._offered = {t["name"] for t in tools}
        return tools

    async def _flows(self) -> list[dict[str, Any]]:
        """The flow tags the user may run (empty without the flows capability)."""
        flows = getattr(getattr(self.ctx, "agents", None), "flows", None)
        if flows is None:
            return []
        actor = Actor.of_principal(self.ctx.principal)
        listed: list[dict[str, Any]] = await flows.runnable(actor)
        return listed

    def _meter(self, result: Any) -> None:
        self.tokens += result.usage.total_tokens
        self.cost_usd += result.cost_usd or 0.0
        if self.tokens > self.limits.max_tokens:
            raise AgentLimitError(f"the agent used more than {self.limits.max_tokens} tokens",
                                  details={"limit": "tokens", "max": self.limits.max_tokens,
                                           "used": self.tokens})  # fmt: skip
        max_cost = self.limits.max_cost_usd
        if max_cost is not None and self.cost_usd > max_cost:
            raise AgentLimitError(f"the agent cost more than ${max_cost}",
                                  details={"limit": "cost_usd", "max": max_cost,
                                           "used": round(self.cost_usd, 6)})  # fmt: skip

    def count_calls(self, n: int) -> None:
        """Count ``n`` more tool calls (a plan's flow counts one) against ``max_tool_calls``.

        Raises:
            AgentLimitError: Over the limit (``details.limit == "tool_calls"``).
        """
        if self.tool_calls + n > self.limits.max_tool_calls:
            raise AgentLimitError(
                f"the agent asked for more than {self.limits.max_tool_calls} tool calls",
                details={"limit": "tool_calls", "max": self.limits.max_tool_calls},
            )
        self.tool_calls += n

    async def _concurrently(self, calls: Sequence[ToolCall]) -> list[_Outcome]:
        """Run ``calls`` at once (as ``ctx.tools.call_many`` does: durable slots taken in order),
        keeping each call's own outcome so that one refusal does not hide the others' results."""
        self.count_calls(len(calls))
        return list(await asyncio.gather(*(self._call(c) for c in calls)))

    async def _plan(self, plan: PlanEnvelope) -> list[dict[str, Any]]:
        self.count_calls(len(plan.steps))
        report: list[dict[str, Any]] = []
        failed = False
        for n, step in enumerate(plan.steps, 1):
            if failed:
                report.append({"step": n, "tool": step.name, "status": "skipped"})
                continue
            outcome = await self._call(step)
            failed = not outcome.ok
            report.append({"step": n, "status": "failed" if failed else "ok", **outcome.to_json()})
        return report

    async def _call(self, call: ToolCall) -> _Outcome:
        """One call through ``ctx.tools``; errors (refusals included) become outcomes."""
        name, args = call.name, call.arguments
        if not offers(self.agent, name):
            return _Outcome(name, False, None, {"code": "tool_not_offered",
                            "message": f"{name} is not one of this agent's tools"})  # fmt: skip
        if self.tools is None:
            return _Outcome(name, False, None, {"code": "tool_not_found",
                            "message": "no tool plane is configured"})  # fmt: skip
        live = not self.replaying  # a live turn's calls were never made before: announce them
        if live:
            self.emit("agent.tool_call", tool=name, arguments=args)
        try:
            result = await self.tools.call(name, args)
        except OrchestratorError as exc:
            outcome = _Outcome(name, False, None, {"code": exc.code, "message": exc.message,
                                                   "details": exc.details})  # fmt: skip
            if not live:
                self.emit("agent.tool_call", tool=name, arguments=args)
            self._emit_result(outcome)
            return outcome
        if not live and not result.replayed:
            self.emit("agent.tool_call", tool=name, arguments=args)
        content = cut(result.output, self.limits.tool_result_max_chars)
        if result.is_error:
            outcome = _Outcome(name, False, content, {"code": "tool_error",
                                                      "message": "the tool reported an error"})  # fmt: skip
        else:
            outcome = _Outcome(name, True, content)
            self.sources.append(citation(name, args, result.output))
        if not result.replayed:
            self._emit_result(outcome)
        return outcome

    def _emit_result(self, outcome: _Outcome) -> None:
        text = outcome.content if isinstance(outcome.content, str) else json.dumps(outcome.content)
        cap = self.limits.event_max_chars
        self.emit("agent.tool_result", tool=outcome.tool, ok=outcome.ok,
                   error=(outcome.error or {}).get("code"), content=text[:cap],
                   truncated=len(text) > cap)  # fmt: skip

    def emit(self, event: str, **data: Any) -> None:
        """Publish ``agent.*`` event ``event`` (a ``step.progress`` event of the step) with the
        agent's name and the turn."""
        self.ctx.emit({"event": event, "agent": self.agent.name, "turn": self.turn, **data})


class _NoEnvelope(Exception):
    """The model answered without calling the envelope tool."""


__all__ = ["ENVELOPE_RULES", "AgentEngine"]
