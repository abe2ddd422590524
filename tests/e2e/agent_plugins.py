"""An agent added from a plugin module (``ORCH_AGENTS__MODULES=tests.e2e.agent_plugins``): no
change to the API or the worker (seed 001 §8.1)."""

from __future__ import annotations

from orchestrator.agents.memory import SimpleAgent

OPS = SimpleAgent(
    name="ops",
    description="Operates the test server: echoes text, sleeps, counts.",
    instructions="You operate the test MCP server through its tools.",
    tools=("t/*",),
)
