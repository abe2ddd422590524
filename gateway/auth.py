"""Authentication and authorization of every route, and the audit of refusals (docs/security.md).

Each route declares the :class:`~orchestrator.auth.Permission` it needs with
``Depends(require(...))`` (``tests/gateway/test_auth_matrix.py`` fails for a route without one).
Credentials: ``Authorization: Bearer <API key | JWT | metrics token>`` or ``X-API-Key``; on the
stream routes also ``?access_token=`` when ``ORCH_AUTH__QUERY_TOKEN`` is on. A refused call
(401, 403, 429, or a 404 for another tenant's job) and every failed mutating call write an
``audit_log`` row (:func:`audit_refusal`); successful mutations are audited by ``JobService``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import HTTPConnection

from orchestrator.auth import Authenticator, Permission, Principal, RateLimits
from orchestrator.auth.apikeys import parse as parse_key
from orchestrator.auth.principal import ANONYMOUS
from orchestrator.auth.ratelimit import Kind
from orchestrator.errors import (
    AuthenticationError,
    AuthError,
    JobNotVisibleError,
    OrchestratorError,
    PermissionDeniedError,
    ToolForbiddenError,
)
from orchestrator.jobs import Actor
from orchestrator.services import Services
from orchestrator.trace.records import AuditRecord, parse_uuid

log = structlog.get_logger("gateway.auth")

QUERY_TOKEN_PARAM = "access_token"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class GatewayAuth:
    """What the auth dependencies need, built in the app's lifespan (``app.state.auth``)."""

    authenticator: Authenticator
    limits: RateLimits
    ws_limiter: MovingWindowRateLimiter
    services: Services

    @classmethod
    def open(cls, services: Services) -> GatewayAuth:
        """Build it on the process's services (trace engine for keys, Redis for limits)."""
        settings = services.settings
        assert settings.redis.url is not None  # Services.open checked it
        return cls(
            authenticator=Authenticator(settings, services.trace.engine),
            limits=RateLimits(settings.auth, settings.redis.url, services.redis, services.keys),
            # Per-connection message rate: in-process, a connection lives in one process.
            ws_limiter=MovingWindowRateLimiter(MemoryStorage()),
            services=services,
        )

    async def ws_message_allowed(self, connection_id: str) -> bool:
        """Count one WebSocket message of a connection against ``auth.ws_message_rate``."""
        item = parse(self.services.settings.auth.ws_message_rate)
        return await self.ws_limiter.hit(item, "ws", connection_id)


def auth_of(conn: HTTPConnection) -> GatewayAuth:
    """The :class:`GatewayAuth` of this app."""
    auth: GatewayAuth = conn.app.state.auth
    return auth


def credential_of(conn: HTTPConnection, *, query_token: bool) -> str | None:
    """The bearer credential of a request, if it carries one."""
    header = conn.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    if key := conn.headers.get("x-api-key"):
        return key.strip()
    if query_token:
        return conn.query_params.get(QUERY_TOKEN_PARAM) or None
    return None


async def principal_of(conn: HTTPConnection, *, query_token: bool = False) -> Principal:
    """Authenticate the request once (cached on ``conn.state.principal``).

    Raises:
        AuthenticationError: Missing or invalid credentials.
    """
    cached = getattr(conn.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    auth = auth_of(conn)
    allow_query = query_token and auth.services.settings.auth.query_token
    principal = await auth.authenticator.authenticate(credential_of(conn, query_token=allow_query))
    conn.state.principal = principal
    return principal


def actor_of(conn: HTTPConnection, principal: Principal) -> Actor:
    """The :class:`Actor` that ``JobService`` and the audit log get for ``principal``."""
    return Actor(
        id=principal.subject,
        tenant_id=principal.tenant_id,
        request_id=getattr(conn.state, "request_id", None),
        client_ip=conn.client.host if conn.client else None,
        own_jobs_only=principal.own_jobs_only,
        all_tenants=principal.all_tenants,
        role=principal.role.value,
    )


class Requirement:
    """A route's declared permission, as a FastAPI dependency that returns the :class:`Actor`.

    Args:
        permission: What the route needs (:data:`Permission.PUBLIC`: no credentials).
        rate: Count the call against the ``submit`` or ``stream`` rate limits.
        query_token: Accept ``?access_token=`` (when enabled in settings): stream routes.
    """

    def __init__(
        self, permission: Permission, *, rate: Kind | None = None, query_token: bool = False
    ) -> None:
        self.permission = permission
        self.rate = rate
        self.query_token = query_token

    async def __call__(self, conn: HTTPConnection) -> Actor:
        """Authenticate, authorize and rate-limit the call.

        Raises:
            AuthenticationError: 401. PermissionDeniedError: 403. RateLimitedError: 429.
        """
        conn.state.action = self.permission.value
        if self.permission is Permission.PUBLIC:
            return actor_of(conn, ANONYMOUS)
        settings = auth_of(conn).services.settings.auth
        if (self.permission is Permission.SYSTEM_READ and conn.url.path == "/metrics"
                and settings.public_metrics):  # fmt: skip
            return actor_of(conn, ANONYMOUS)
        principal = await principal_of(conn, query_token=self.query_token)
        if not principal.can(self.permission):
            raise PermissionDeniedError(
                f"role {principal.role.value!r} may not {self.permission.value}",
                details={"permission": self.permission.value, "role": principal.role.value},
            )
        if self.rate is not None and principal.method != "none":
            await auth_of(conn).limits.hit(self.rate, principal)
        return actor_of(conn, principal)


class SocketRequirement(Requirement):
    """:class:`Requirement` for WebSocket routes: returns the refusal instead of raising it,
    so that the route can send an error frame and close with a matching code."""

    async def __call__(self, conn: HTTPConnection) -> Actor | OrchestratorError:  # type: ignore[override]
        try:
            return await super().__call__(conn)
        except OrchestratorError as exc:
            return exc


def require(
    permission: Permission, *, rate: Kind | None = None, query_token: bool = False
) -> Requirement:
    """The dependency declaring that a route needs ``permission`` (see :class:`Requirement`)."""
    return Requirement(permission, rate=rate, query_token=query_token)


def should_audit(conn: HTTPConnection, exc: OrchestratorError | None, status: int) -> bool:
    """Refusals always; other 4xx answers to mutating calls (a rejected submit, cancel, ...).

    Not a tool policy's refusal (``tool_forbidden``): the tool plane writes its own row,
    ``tool.refused``, naming the deciding tag (orchestrator/mcp/manager.py); one row per refusal.
    """
    if isinstance(exc, ToolForbiddenError):
        return False
    if isinstance(exc, AuthError | JobNotVisibleError):
        return True
    method = conn.scope.get("method", "GET") if conn.scope["type"] == "http" else "WEBSOCKET"
    return method in MUTATING_METHODS and 400 <= status < 500


async def audit_refusal(
    conn: HTTPConnection, *, status: int, code: str, reason: str | None = None
) -> None:
    """Write the ``audit_log`` row of a refused or failed call; never raises."""
    auth = getattr(conn.app.state, "auth", None)
    if not isinstance(auth, GatewayAuth):
        return
    principal = getattr(conn.state, "principal", None)
    details: dict[str, Any] = {"outcome": "denied" if status in (401, 403, 404, 429)
                               else "rejected", "status": status, "code": code,
                               "path": conn.url.path}  # fmt: skip
    if reason:
        details["reason"] = reason
    if principal is None:
        cred = credential_of(conn, query_token=auth.services.settings.auth.query_token)
        parsed = parse_key(cred) if cred else None
        if parsed is not None:
            details["key_id"] = parsed[0]  # the public half only; never the secret
    job_id = conn.path_params.get("job_id")
    record = AuditRecord(
        at=datetime.now(UTC),
        actor=principal.subject if isinstance(principal, Principal) else "unauthenticated",
        action=getattr(conn.state, "action", None) or f"{conn.scope['type']}.request",
        tenant_id=principal.tenant_id if isinstance(principal, Principal) else None,
        job_id=job_id if isinstance(job_id, str) and parse_uuid(job_id) is not None else None,
        details=details,
        request_id=getattr(conn.state, "request_id", None),
        client_ip=conn.client.host if conn.client else None,
    )
    try:
        await auth.services.trace.add_audit(record)
    except (OrchestratorError, ValueError) as exc:
        log.warning("audit write failed", code=code, error=type(exc).__name__)


def www_authenticate(exc: AuthenticationError) -> str:
    """The ``WWW-Authenticate`` challenge of a 401 (RFC 6750 §3)."""
    if exc.details.get("reason") == "credentials_missing":
        return 'Bearer realm="orchestrator"'
    return 'Bearer realm="orchestrator", error="invalid_token"'


__all__ = [
    "GatewayAuth",
    "Requirement",
    "SocketRequirement",
    "actor_of",
    "audit_refusal",
    "auth_of",
    "credential_of",
    "principal_of",
    "require",
    "should_audit",
    "www_authenticate",
]
