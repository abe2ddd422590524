"""The envelope engine, the router and the registry over the seams' in-memory implementations.

What stands in for a paid API here: :class:`orchestrator.llm.memory.MemoryProvider` (the LLM
seam's in-memory provider) behind the real ``StepLLM``; tools: a small in-memory tool plane
behind the real ``StepTools``, both durable through a real ``CallJournal`` on the in-memory call
store. The wire formats and real MCP servers are covered in tests/e2e/test_agents.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from orchestrator.agents.engine import AgentEngine
from orchestrator.agents.envelope import (
    AgentOutput,
    ReplyEnvelope,
    envelope_schema,
    envelope_tool,
    parse_envelope,
)
from orchestrator.agents.errors import (
    AgentLimitError,
    AgentReportedError,
    EnvelopeInvalidError,
    UnknownTaskTypeError,
)
from orchestrator.agents.memory import SimpleAgent
from orchestrator.agents.registry import AgentRegistry
from orchestrator.agents.router import classify_task, route_to_agent
from orchestrator.agents.workflow import agent as agent_workflow
from orchestrator.agents.workflow import pieces
from orchestrator.config import AgentsSettings
from orchestrator.durable.journal import CallJournal
from orchestrator.durable.memory import MemoryCallStore
from orchestrator.errors import ConfigError, ToolForbiddenError
from orchestrator.jobs.actor import Actor
from orchestrator.llm import StepLLM, ToolUse
from orchestrator.llm.memory import MemoryProvider, Reply
from orchestrator.llm.registry import ProviderRegistry
from orchestrator.llm.step import CallSite
from orchestrator.mcp.step import StepTools
from orchestrator.mcp.tools import ToolInfo, ToolResult

JOB = "00000000-0000-0000-0000-0000000000a1"
OPS = SimpleAgent(name="ops", description="ops", tools=("t/*",))


class Plane:
    """An in-memory tool plane: ``t/echo``, ``t/fail`` (reports an error), ``t/secret`` (refused)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.intents: list[str | None] = []

    async def list_tools(self, actor: Actor | None = None, **kw: Any) -> list[ToolInfo]:
        self.intents.append(kw.get("intent"))
        return [ToolInfo("t/echo", "t", "echo", "Echo text", {"type": "object"}),
                ToolInfo("t/fail", "t", "fail", "Fails", {"type": "object"})]  # fmt: skip

    async def call(self, actor: Actor, name: str, arguments: Mapping[str, Any] | None = None,
                   **kw: Any) -> ToolResult:  # fmt: skip
        self.intents.append(kw.get("intent"))
        if name == "t/secret":
            raise ToolForbiddenError("refused", details={"tool": name, "tag": "default"})
        self.calls.append((name, dict(arguments or {})))
        text = json.dumps(arguments)
        return ToolResult(name, [{"type": "text", "text": text}], is_error=name == "t/fail")


class Ctx:
    """What the engine uses of a StepContext."""

    def __init__(self, provider: MemoryProvider, store: MemoryCallStore, plane: Plane,
                 answers: list[Any] | None = None) -> None:  # fmt: skip
        registry = ProviderRegistry("memory:m")
        registry.register(provider)
        journal = CallJournal(store, JOB, "run_agent")
        self.llm = StepLLM(registry, CallSite(JOB, "run_agent", 1), journal=journal)
        self.tools = StepTools(plane, Actor(id="u", tenant_id="t"), journal=journal)
        self.calls = journal
        self.prompter = None
        self.events: list[dict[str, Any]] = []
        self.answers = answers or []
        self.asked: list[str] = []

    def emit(self, data: Any) -> None:
        self.events.append(data)

    async def ask(self, prompt: str, *, schema: Any = None) -> Any:
        self.asked.append(prompt)
        return self.answers.pop(0)


def env(**fields: Any) -> Reply:
    return Reply(tool_uses=(ToolUse(f"toolu_{len(json.dumps(fields))}_{fields.get('type')}",
                                    "envelope", {"confidence": 0.8, "reasoning": "r", **fields}),))  # fmt: skip


def results_of(request: Any) -> dict[str, Any]:
    [block] = request.messages[-1]["content"]
    return dict(json.loads(block["content"]))


async def run(replies: list[Reply], *, limits: AgentsSettings | None = None,
              store: MemoryCallStore | None = None, plane: Plane | None = None,
              answers: list[Any] | None = None) -> tuple[AgentOutput, Ctx, MemoryProvider]:  # fmt: skip
    provider = MemoryProvider(list(replies))
    ctx = Ctx(provider, store or MemoryCallStore(), plane or Plane(), answers)
    output = await AgentEngine(OPS, ctx, limits or AgentsSettings()).run("do it")
    return output, ctx, provider


def test_the_envelope_tool_is_one_object_schema_and_the_union_validates_each_kind() -> None:
    tool = envelope_tool()
    schema = tool["input_schema"]
    assert tool["name"] == "envelope" and schema == envelope_schema()
    assert schema["type"] == "object" and "oneOf" not in schema
    assert schema["properties"]["type"]["enum"] == ["tool", "tools", "plan", "reply", "error"]
    reply = parse_envelope({"type": "reply", "confidence": 1, "content": "x"})
    assert isinstance(reply, ReplyEnvelope) and reply.reasoning == ""
    for bad in ({"type": "tool", "confidence": 0.5}, {"type": "reply", "confidence": 2},
                {"type": "other", "confidence": 0.5}, {"type": "tools", "confidence": 1, "calls": []}):  # fmt: skip
        with pytest.raises(ValueError):
            parse_envelope(bad)


async def test_a_plan_runs_in_order_and_stops_at_the_failing_step_telling_the_model() -> None:
    steps = [{"name": "t/echo", "arguments": {"n": 1}}, {"name": "t/fail", "arguments": {}},
             {"name": "t/echo", "arguments": {"n": 3}}]  # fmt: skip
    output, ctx, provider = await run(
        [env(type="plan", steps=steps), env(type="reply", content="ok")]
    )
    assert output == AgentOutput(agent_name="ops", content="ok")
    assert [c[0] for c in ctx.tools.manager.calls] == ["t/echo", "t/fail"]  # type: ignore[attr-defined]
    plan = results_of(provider.requests[1])["plan"]
    assert [(s["step"], s["status"]) for s in plan] == [(1, "ok"), (2, "failed"), (3, "skipped")]
    assert [e["event"] for e in ctx.events] == [
        "agent.envelope", "agent.tool_call", "agent.tool_result", "agent.tool_call",
        "agent.tool_result", "agent.envelope", "agent.reply_delta"]  # fmt: skip


async def test_refused_and_unoffered_tools_become_results_not_exceptions() -> None:
    calls = [
        {"name": "t/secret"},
        {"name": "git/git_log"},
        {"name": "t/echo", "arguments": {"a": 1}},
    ]
    _, ctx, provider = await run([env(type="tools", calls=calls), env(type="reply", content="x")])
    results = results_of(provider.requests[1])["results"]
    assert [(r["tool"], r["ok"], (r.get("error") or {}).get("code")) for r in results] == [
        ("t/secret", False, "tool_forbidden"), ("git/git_log", False, "tool_not_offered"),
        ("t/echo", True, None)]  # fmt: skip
    assert ctx.tools.manager.calls == [("t/echo", {"a": 1})]  # type: ignore[attr-defined]


async def test_a_second_run_on_the_same_records_replays_every_call_and_publishes_nothing() -> None:
    store, plane = MemoryCallStore(), Plane()
    script = [
        env(type="tool", name="t/echo", arguments={"x": 1}),
        env(type="reply", content="done"),
    ]
    first, ctx1, p1 = await run(script, store=store, plane=plane)
    again, ctx2, p2 = await run([Reply(text="never sent")], store=store, plane=plane)
    assert first == again
    assert len(p1.requests) == 2 and p2.requests == []
    assert len(plane.calls) == 1
    assert ctx1.events and ctx2.events == []


async def test_limits_on_turns_tool_calls_and_tokens_fail_with_agent_limit_exceeded() -> None:
    loop = [env(type="tool", name="t/echo", arguments={})] * 5
    cases = [(AgentsSettings(max_turns=3), "turns"), (AgentsSettings(max_tool_calls=2), "tool_calls"),
             (AgentsSettings(max_tokens=15), "tokens")]  # fmt: skip
    for limits, name in cases:
        with pytest.raises(AgentLimitError) as caught:
            await run(loop, limits=limits)
        assert caught.value.code == "agent_limit_exceeded"
        assert caught.value.details["limit"] == name


async def test_invalid_envelopes_are_re_asked_then_fail_and_error_envelopes_fail() -> None:
    with pytest.raises(EnvelopeInvalidError) as caught:
        await run([Reply(text="no tool")] * 2, limits=AgentsSettings(max_envelope_retries=1))
    assert caught.value.code == "envelope_invalid"
    with pytest.raises(AgentReportedError) as reported:
        await run([env(type="error", message="cannot")])
    assert reported.value.code == "agent_error" and reported.value.details["message"] == "cannot"


async def test_a_reply_with_ask_asks_the_user_and_goes_on_with_the_answer() -> None:
    output, ctx, provider = await run(
        [env(type="reply", ask="Which?"), env(type="reply", content="chose B")], answers=["B"]
    )
    assert ctx.asked == ["Which?"] and output.content == "chose B"
    assert results_of(provider.requests[1]) == {"answer": "B"}


async def test_the_router_routes_above_the_threshold_and_refuses_below_or_unknown() -> None:
    registry = AgentRegistry.load()
    provider = MemoryProvider()
    llm_registry = ProviderRegistry("memory:m")
    llm_registry.register(provider)
    llm = StepLLM(llm_registry, CallSite(JOB, "route", 1))
    for name, confidence, ok in (("code", 0.7, True), ("code", 0.4, False), ("poet", 0.9, False)):
        provider.script([Reply(tool_uses=(ToolUse("c", "classify_task", {
            "agent_name": name, "confidence": confidence, "reasoning": "r"}),))])  # fmt: skip
        decision = await classify_task(llm, registry, "refactor my code")
        if ok:
            assert route_to_agent(decision, registry, min_confidence=0.5).name == "code"
        else:
            with pytest.raises(UnknownTaskTypeError):
                route_to_agent(decision, registry, min_confidence=0.5)
    request = provider.requests[0]
    assert request.tool_choice == {"type": "tool", "name": "classify_task"}
    assert request.tools[0].input_schema["properties"]["agent_name"]["enum"] == ["content", "code"]
    provider.script([Reply(text="no tool use")])
    assert (await classify_task(llm, registry, "x")).confidence == 0.0


def test_the_registry_loads_built_ins_and_plugin_modules_and_refuses_non_agents() -> None:
    registry = AgentRegistry.load(["tests.e2e.agent_plugins"])
    assert registry.names() == ["content", "code", "ops"]
    with pytest.raises(ConfigError):
        AgentRegistry.load(["no.such.module"])
    with pytest.raises(ConfigError):
        registry.register(object())  # type: ignore[arg-type]


def test_the_agent_workflow_has_the_agreed_inputs_and_streams_its_reply() -> None:
    assert agent_workflow.name == "agent"
    assert agent_workflow.input_names == ["task", "session_id", "history", "agent"]
    assert list(agent_workflow.steps) == ["route", "run_agent", "reply"]
    text = "word " * 60
    assert "".join(pieces(text)) == text and all(len(p) <= 80 for p in pieces(text))
    assert pieces("") == [""]


async def test_every_tool_use_of_an_answer_is_answered_in_the_one_next_message() -> None:
    two = Reply(tool_uses=(
        ToolUse("a", "envelope", {"type": "tool", "name": "t/echo", "confidence": 1, "reasoning": ""}),
        ToolUse("b", "t/echo", {}),
    ))  # fmt: skip
    _, _, provider = await run([two, env(type="reply", content="x")])
    [message] = provider.requests[1].messages[-1:]
    assert [(b["tool_use_id"], b.get("is_error", False)) for b in message["content"]] == [
        ("a", False), ("b", True)]  # fmt: skip


def test_history_becomes_alternating_messages_that_start_with_the_user() -> None:
    from orchestrator.agents.router import history_messages

    got = history_messages([{"role": "assistant", "content": "hi"}, {"role": "user", "content": "a"},
                            {"role": "user", "content": "b"}, {"role": "system", "content": "x"}])  # fmt: skip
    assert [m["role"] for m in got] == ["user", "assistant", "user", "assistant"]
    assert got[2]["content"] == "a\n\nb"


def test_an_installed_package_adds_an_agent_by_entry_point(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "orch_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: orch-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[orchestrator.agents]\nops = tests.e2e.agent_plugins:OPS\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # as if pip had installed the package
    assert "ops" in AgentRegistry.load().names()


class Flows:
    """The flows capability (``ctx.agents.flows``) in memory: one flow tag ``echo``; records
    what the engine asked of it."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any], str]] = []

    async def runnable(self, actor: Actor) -> list[dict[str, Any]]:
        return [{"name": "echo", "description": "Echo once.", "inputs": {"type": "object"}}]

    async def resolve(self, actor: Actor, plan: Any) -> Any:
        from orchestrator.agents.flows import ResolvedFlow
        from orchestrator.flows import compile_flow

        definition = plan.flow_definition or {"steps": [{"name": "a", "tool": "t/echo"}]}
        wf = compile_flow(definition, name=f"flow:{plan.flow or 'proposed'}")
        return ResolvedFlow(wf.name, wf.source, 3 if plan.flow else None, plan.flow is None)

    async def validate(self, actor: Actor, flow: Any, tools: Any, **_: Any) -> Any:
        from orchestrator.flows.compiler import compile_stored

        return compile_stored(flow.name, flow.source)

    async def start(self, actor: Actor, wf: Any, inputs: dict[str, Any], key: str) -> str:
        self.started.append((wf.name, inputs, key))
        return f"job-{len(self.started)}"

    async def wait(self, actor: Actor, job_id: str, **_: Any) -> dict[str, Any]:
        return {"job_id": job_id, "status": "succeeded", "result": {"a": "echoed"}}


class Runtime:
    def __init__(self, flows: Flows | None) -> None:
        self.flows = flows


def test_a_plan_names_exactly_one_of_steps_flow_and_flow_definition() -> None:
    step = {"name": "t/echo"}
    for bad in ({}, {"steps": [step], "flow": "x"}, {"flow": "x", "flow_definition": {"steps": []}}):
        with pytest.raises(ValueError, match="exactly one of steps, flow or flow_definition"):
            parse_envelope({"type": "plan", "confidence": 1, **bad})
    assert parse_envelope({"type": "plan", "confidence": 1, "flow": "x"}).flow == "x"  # type: ignore[union-attr]


async def test_a_flow_plan_without_the_flows_capability_is_told_flows_unavailable() -> None:
    _, _, provider = await run([env(type="plan", flow="echo"), env(type="reply", content="ok")])
    assert results_of(provider.requests[1])["flow"]["error"]["code"] == "flows_unavailable"


async def test_a_flow_plan_starts_one_job_and_a_replayed_attempt_finds_its_result() -> None:
    store, flows = MemoryCallStore(), Flows()
    replies = [env(type="plan", flow="echo", flow_inputs={"x": 1}), env(type="reply", content="ok")]
    for attempt in (1, 2):
        provider = MemoryProvider(list(replies))
        ctx = Ctx(provider, store, Plane())
        ctx.agents, ctx.principal, ctx.job_id, ctx.step = (  # type: ignore[attr-defined]
            Runtime(flows), {"user_id": "u", "tenant_id": "t"}, JOB, "run_agent")
        await AgentEngine(OPS, ctx, AgentsSettings()).run("do it")
        if attempt == 1:
            told = results_of(provider.requests[1])["flow"]
            assert (told["ok"], told["job_id"], told["result"]) == (True, "job-1", {"a": "echoed"})
            assert "- echo: Echo once." in provider.requests[0].system
            assert [e["event"] for e in ctx.events if "flow" in e["event"]] == [
                "agent.flow_started", "agent.flow_finished"]  # fmt: skip
    assert flows.started == [("flow:echo", {"x": 1}, f"agent-flow:{JOB}:run_agent:3")]  # call 3: after the LLM call and the resolve
    assert ctx.asked == [], "a flow tag runs without approval by default"


async def test_approval_is_asked_for_proposed_flows_and_for_every_flow_when_always() -> None:
    proposed = {"steps": [{"name": "a", "tool": "t/echo"}]}
    for mode, plan, asked in (("proposed", {"flow": "echo"}, False),
                              ("proposed", {"flow_definition": proposed}, True),
                              ("always", {"flow": "echo"}, True),
                              ("never", {"flow_definition": proposed}, False)):  # fmt: skip
        flows = Flows()
        provider = MemoryProvider([env(type="plan", **plan), env(type="reply", content="ok")])
        ctx = Ctx(provider, MemoryCallStore(), Plane(), answers=[{"approved": False}])
        ctx.agents, ctx.principal, ctx.job_id, ctx.step = (  # type: ignore[attr-defined]
            Runtime(flows), {"user_id": "u"}, JOB, "run_agent")
        await AgentEngine(OPS, ctx, AgentsSettings(flow_approval=mode)).run("do it")
        told = results_of(provider.requests[1])["flow"]
        assert bool(ctx.asked) is asked, (mode, plan)
        if asked:
            assert told["error"]["code"] == "flow_declined" and flows.started == []
            assert "- a: calls t/echo" in ctx.asked[0]
        else:
            assert told["ok"] is True and len(flows.started) == 1


async def test_a_proposed_flow_may_call_only_the_agents_tools() -> None:
    flows = Flows()
    proposed = {"steps": [{"name": "log", "tool": "git/git_log"}]}
    provider = MemoryProvider([env(type="plan", flow_definition=proposed),
                               env(type="reply", content="ok")])  # fmt: skip
    ctx = Ctx(provider, MemoryCallStore(), Plane())
    ctx.agents, ctx.principal, ctx.job_id, ctx.step = (  # type: ignore[attr-defined]
        Runtime(flows), {"user_id": "u"}, JOB, "run_agent")
    await AgentEngine(OPS, ctx, AgentsSettings()).run("do it")
    error = results_of(provider.requests[1])["flow"]["error"]
    assert (error["code"], error["details"]["step"], error["details"]["field"]) == (
        "tool_not_offered", "log", "tool")  # fmt: skip
    assert flows.started == [] and ctx.asked == []


async def test_the_final_reply_is_published_as_the_model_writes_it_and_not_again_on_replay() -> None:
    content = "The answer, written slowly: " + " ".join(f"word{i}" for i in range(40))
    store = MemoryCallStore()
    replies = [env(type="tool", name="t/echo", arguments={"text": "x" * 60}),
               env(type="reply", content=content)]  # fmt: skip
    output, ctx, _ = await run(replies, store=store)
    deltas = [e["text"] for e in ctx.events if e["event"] == "agent.reply_delta"]
    assert len(deltas) > 3, "the reply arrives in pieces, before the turn ends"
    assert "".join(deltas) == content == output.content
    kinds = [e["event"] for e in ctx.events]
    assert kinds.index("agent.reply_delta") > kinds.index("agent.tool_result"), \
        "a tool envelope's arguments are not shown as reply text"
    _, again, _ = await run(replies, store=store)
    assert [e for e in again.events if e["event"] == "agent.reply_delta"] == []


async def test_a_question_is_not_published_as_reply_text() -> None:
    _, ctx, _ = await run([env(type="reply", ask="Which branch do you mean, main or dev?"),
                           env(type="reply", content="ok")], answers=["main"])  # fmt: skip
    deltas = [e["text"] for e in ctx.events if e["event"] == "agent.reply_delta"]
    assert deltas == ["ok"]


async def test_an_agents_tools_are_listed_and_decided_for_its_own_intent() -> None:
    plane = Plane()
    provider = MemoryProvider([env(type="tool", name="t/echo", arguments={}),
                               env(type="reply", content="ok")])  # fmt: skip
    ctx = Ctx(provider, MemoryCallStore(), plane)
    ctx.tools.intent = "agent"  # the workflow's name, as the worker sets it
    coder = SimpleAgent(name="coder", description="d", tools=("t/*",), intent="code")
    await AgentEngine(coder, ctx, AgentsSettings()).run("do it")
    assert plane.intents == ["code", "code"], "the list and the call, as the prompt's tags"
