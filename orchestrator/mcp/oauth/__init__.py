"""OAuth 2 tokens for MCP servers (DESIGN §14): the token manager and its storage.

Names are imported lazily (PEP 562) so that reading settings does not import authlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.mcp.oauth.base import TokenStore
    from orchestrator.mcp.oauth.crypto import TokenCipher
    from orchestrator.mcp.oauth.manager import TokenManager
    from orchestrator.mcp.oauth.memory import MemoryTokenStore
    from orchestrator.mcp.oauth.settings import McpTokenSettings
    from orchestrator.mcp.oauth.spec import Grant, OAuth2Spec
    from orchestrator.mcp.oauth.store import SqlTokenStore
    from orchestrator.mcp.oauth.tokens import TokenSet

_WHERE = {
    "Grant": "spec",
    "McpTokenSettings": "settings",
    "MemoryTokenStore": "memory",
    "OAuth2Spec": "spec",
    "SqlTokenStore": "store",
    "TokenCipher": "crypto",
    "TokenManager": "manager",
    "TokenSet": "tokens",
    "TokenStore": "base",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "Grant",
    "McpTokenSettings",
    "MemoryTokenStore",
    "OAuth2Spec",
    "SqlTokenStore",
    "TokenCipher",
    "TokenManager",
    "TokenSet",
    "TokenStore",
]
