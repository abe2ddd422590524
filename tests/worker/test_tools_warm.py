"""A worker's warm-up imports the MCP SDK only when an MCP server is configured: without one no
tool call can reach a server, and the SDK is ~30 MB of an idle worker's memory (issue 19).

Each check runs in a fresh interpreter: what a process has imported is the subject.
"""

from __future__ import annotations

from tests.support.fresh import run_fresh

WARM = """
    import asyncio, sys, types
    from orchestrator.config import Settings
    from worker.tools import ToolsHook

    hook = ToolsHook(types.SimpleNamespace(settings=Settings(mcp={{"servers": {servers}}})))
    before = "orchestrator.mcp.manager" in sys.modules
    asyncio.run(hook.warm())
    print(before, "orchestrator.mcp.manager" in sys.modules)
"""


def test_without_a_server_the_warm_up_leaves_the_mcp_sdk_unimported() -> None:
    assert run_fresh(WARM.format(servers="[]")) == "False False"


def test_with_a_server_the_warm_up_imports_the_mcp_sdk() -> None:
    server = '[{"name": "t", "transport": "http", "url": "http://127.0.0.1:9/mcp"}]'
    assert run_fresh(WARM.format(servers=server)) == "False True"
