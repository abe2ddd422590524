"""Authentication and authorization: principals, roles, API keys, JWTs, rate limits.

Pure core plus two stores: API keys live in the trace database (``api_keys``), rate windows and
stream counters in Redis. The gateway turns these into FastAPI dependencies (``gateway/auth.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.auth.principal import ANONYMOUS, Principal
from orchestrator.auth.roles import KEY_ROLES, ROLE_PERMISSIONS, Permission, Role

if TYPE_CHECKING:
    from orchestrator.auth.apikeys import ApiKeyRecord, ApiKeyStore
    from orchestrator.auth.authenticator import Authenticator
    from orchestrator.auth.ratelimit import RateLimits, StreamSlot
    from orchestrator.auth.tokens import JwtVerifier

# Loaded on first use: SQLAlchemy, limits and PyJWT cost ~150 ms, and every CLI start (the
# worker's included) imports the roles through this package.
_LAZY = {
    "ApiKeyRecord": "orchestrator.auth.apikeys",
    "ApiKeyStore": "orchestrator.auth.apikeys",
    "Authenticator": "orchestrator.auth.authenticator",
    "RateLimits": "orchestrator.auth.ratelimit",
    "StreamSlot": "orchestrator.auth.ratelimit",
    "JwtVerifier": "orchestrator.auth.tokens",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator.auth' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

__all__ = [
    "ANONYMOUS",
    "KEY_ROLES",
    "ROLE_PERMISSIONS",
    "ApiKeyRecord",
    "ApiKeyStore",
    "Authenticator",
    "JwtVerifier",
    "Permission",
    "Principal",
    "RateLimits",
    "Role",
    "StreamSlot",
]
