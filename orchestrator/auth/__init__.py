"""Authentication and authorization: principals, roles, API keys, JWTs, rate limits.

Pure core plus two stores: API keys live in the trace database (``api_keys``), rate windows and
stream counters in Redis. The gateway turns these into FastAPI dependencies (``gateway/auth.py``).
"""

from __future__ import annotations

from orchestrator.auth.apikeys import ApiKeyRecord, ApiKeyStore
from orchestrator.auth.authenticator import Authenticator
from orchestrator.auth.principal import ANONYMOUS, Principal
from orchestrator.auth.ratelimit import RateLimits, StreamSlot
from orchestrator.auth.roles import KEY_ROLES, ROLE_PERMISSIONS, Permission, Role
from orchestrator.auth.tokens import JwtVerifier

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
