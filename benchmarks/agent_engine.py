"""The envelope engine's own cost per turn (issue 16): ``python -m benchmarks.agent_engine``.

An agent run of ``--turns`` turns, each a ``tools`` envelope of ``--calls`` tool calls, on the
seams' in-memory implementations (the scripted LLM provider, an in-memory tool plane, the
in-memory durable-call store): what is left is the engine (envelope validation, messages, events)
plus ``StepLLM``/``StepTools``/``CallJournal`` bookkeeping. Then the same run replayed from its
durable records (what a resumed agent pays before its next real turn). No network, no model.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Mapping
from typing import Any

from orchestrator.agents.engine import AgentEngine
from orchestrator.agents.memory import SimpleAgent
from orchestrator.config import AgentsSettings
from orchestrator.durable.journal import CallJournal
from orchestrator.durable.memory import MemoryCallStore
from orchestrator.jobs.actor import Actor
from orchestrator.llm import StepLLM, ToolUse
from orchestrator.llm.memory import MemoryProvider, Reply
from orchestrator.llm.registry import ProviderRegistry
from orchestrator.llm.step import CallSite
from orchestrator.mcp.step import StepTools
from orchestrator.mcp.tools import ToolInfo, ToolResult

JOB = "00000000-0000-0000-0000-00000000be01"
AGENT = SimpleAgent(name="bench", description="bench", tools=("t/*",))


class Plane:
    async def list_tools(self, actor: Actor | None = None, **_: Any) -> list[ToolInfo]:
        return [ToolInfo("t/echo", "t", "echo", "Echo", {"type": "object"})]

    async def call(
        self, actor: Actor, name: str, arguments: Mapping[str, Any] | None = None, **_: Any
    ) -> ToolResult:
        return ToolResult(name, [{"type": "text", "text": "x" * 200}])


class Ctx:
    def __init__(self, replies: list[Reply], store: MemoryCallStore) -> None:
        registry = ProviderRegistry("memory:m")
        registry.register(MemoryProvider(replies))
        journal = CallJournal(store, JOB, "run_agent")
        self.llm = StepLLM(registry, CallSite(JOB, "run_agent", 1), journal=journal)
        self.tools = StepTools(Plane(), Actor(id="u", tenant_id="t"), journal=journal)
        self.prompter = None

    def emit(self, data: Any) -> None:
        pass

    async def ask(self, prompt: str, *, schema: Any = None) -> Any:
        raise AssertionError("no questions in the benchmark")


def script(turns: int, calls: int) -> list[Reply]:
    def env(n: int, **fields: Any) -> Reply:
        body = {"confidence": 0.9, "reasoning": "bench", **fields}
        return Reply(tool_uses=(ToolUse(f"toolu_{n}", "envelope", body),))

    tools = [{"name": "t/echo", "arguments": {"i": i}} for i in range(calls)]
    return [env(n, type="tools", calls=tools) for n in range(turns - 1)] + [
        env(turns, type="reply", content="done")
    ]


async def one_run(turns: int, calls: int) -> tuple[float, float]:
    store = MemoryCallStore()
    limits = AgentsSettings(max_turns=turns + 1, max_tool_calls=turns * calls + 1)
    t0 = time.perf_counter()
    await AgentEngine(AGENT, Ctx(script(turns, calls), store), limits).run("bench")
    live = time.perf_counter() - t0
    t0 = time.perf_counter()
    await AgentEngine(AGENT, Ctx([], store), limits).run("bench")
    return live, time.perf_counter() - t0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    await one_run(args.turns, args.calls)  # warm-up (imports, pydantic schemas)
    live, replay = [], []
    for _ in range(args.runs):
        a, b = await one_run(args.turns, args.calls)
        live.append(a * 1000 / args.turns)
        replay.append(b * 1000 / args.turns)
    print(f"engine, {args.turns} turns x {args.calls} tool calls, {args.runs} runs:")
    print(f"  live turn:     p50 {statistics.median(live):.3f} ms, max {max(live):.3f} ms")
    print(f"  replayed turn: p50 {statistics.median(replay):.3f} ms, max {max(replay):.3f} ms")


if __name__ == "__main__":
    asyncio.run(main())
