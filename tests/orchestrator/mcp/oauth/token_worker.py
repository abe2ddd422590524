"""A worker process of the two-process refresh test (tests/e2e/test_mcp_oauth_workers.py).

Usage: ``python -m tests.orchestrator.mcp.oauth.token_worker CONFIG_JSON``. Builds a
TokenManager on the shared Redis and PostgreSQL, prints ``ready``, waits for a line on stdin,
then makes ``calls`` concurrent tool calls to the protected MCP server and prints one JSON line:
``{"ok": n, "errors": [code, ...]}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from redis.asyncio import Redis

from orchestrator.errors import OrchestratorError
from orchestrator.keys import Keys
from orchestrator.logs import configure_logging
from orchestrator.mcp.oauth import McpTokenSettings, OAuth2Spec, TokenManager
from tests.orchestrator.mcp.oauth.client import call_ping


async def main(config: dict[str, Any]) -> None:
    configure_logging("INFO", json=True, stream=sys.stderr)  # stdout is the test's protocol
    redis = Redis.from_url(config["redis_url"])
    manager = TokenManager.from_settings(
        McpTokenSettings(token_encryption_key=config["key"]),
        {config["server"]: OAuth2Spec(**config["spec"])},
        redis=redis,
        engine=config["database_url"],  # the manager opens (and closes) its own engine
        keys=Keys(config["prefix"]),
        http_timeout_seconds=5.0,
    )
    try:
        print("ready", flush=True)
        await asyncio.wait_for(asyncio.to_thread(sys.stdin.readline), timeout=60)
        results = await asyncio.gather(
            *(call_ping(config["mcp_url"], manager, config["server"])
              for _ in range(config["calls"])),
            return_exceptions=True,
        )  # fmt: skip
        errors = [
            r.code if isinstance(r, OrchestratorError) else repr(r)
            for r in results
            if isinstance(r, BaseException)
        ]
        print(json.dumps({"ok": results.count("pong"), "errors": errors}), flush=True)
    finally:
        await manager.close()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
