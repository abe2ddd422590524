"""Dashboard sessions: an API key exchanged for an HttpOnly cookie, CSRF tokens, Origin checks.

Why a server-side session in Redis rather than a signed cookie (``itsdangerous``): the cookie is
an opaque random id (256 bits) and holds no secret or claim, so there is no signing key to
manage or rotate; logging out deletes the session for real; and every request re-reads the
API key's row, so revoking the key (``orchestrator keys revoke``) ends its sessions at the next
click. The Redis hash is keyed by the SHA-256 of the cookie value (a dump of Redis yields no
usable cookie) and expires ``ui.session_ttl_seconds`` after login.

CSRF: each session has a random token, rendered into every form as ``csrf_token`` and into
``hx-headers`` as ``X-CSRF-Token``; a mutating dashboard request without the session's token is
refused ``403 csrf_invalid`` (the synchronizer-token pattern, OWASP CSRF Prevention Cheat
Sheet). The cookie is also ``SameSite=Strict``. Streams authenticated by the cookie check
``Origin`` against ``ORCH_AUTH__CORS_ORIGINS`` and the gateway's own origin (DESIGN §20).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import cast

from starlette.requests import HTTPConnection, Request

from gateway.auth import GatewayAuth, actor_of, auth_of
from orchestrator.auth import Permission, Principal, Role
from orchestrator.auth.apikeys import looks_like_key, parse
from orchestrator.auth.principal import AuthMethod
from orchestrator.errors import AuthenticationError, PermissionDeniedError
from orchestrator.jobs import Actor
from orchestrator.services import Services

COOKIE_NAME = "orch_ui_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class CsrfError(PermissionDeniedError):
    """A dashboard action without the session's CSRF token (403)."""

    code = "csrf_invalid"


class OriginError(PermissionDeniedError):
    """A cookie-authenticated stream opened from a foreign page (403)."""

    code = "origin_forbidden"


class LoginRequired(Exception):  # control flow (a redirect), not an error of the tree
    """No valid session: the page redirects to the login form."""


@dataclass(frozen=True, slots=True)
class UiSession:
    """One logged-in browser.

    Attributes:
        principal: Who logged in (the API key's principal).
        key_id: The API key's public id (``None`` with auth disabled).
        csrf: The session's CSRF token.
        expires_at: Epoch seconds.
    """

    principal: Principal
    key_id: str | None
    csrf: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class UiUser:
    """What a dashboard route gets: the session and the :class:`Actor` the job services take."""

    session: UiSession
    actor: Actor

    @property
    def role(self) -> str:
        """The role's name."""
        return self.session.principal.role.value

    def can(self, permission: Permission | str) -> bool:
        """Whether the role grants ``permission`` (templates hide buttons that would 403)."""
        return self.session.principal.can(Permission(permission))


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


class SessionStore:
    """Sessions in Redis (``Keys.ui_session``).

    Args:
        services: The gateway's services (Redis, keys, settings).
    """

    def __init__(self, services: Services) -> None:
        self.redis = services.redis
        self.keys = services.keys
        self.ttl_seconds = services.settings.ui.session_ttl_seconds

    async def create(self, principal: Principal, key_id: str | None) -> tuple[str, UiSession]:
        """Start a session.

        Returns:
            ``(cookie value, session)``.
        """
        cookie = secrets.token_urlsafe(32)
        session = UiSession(principal, key_id, secrets.token_urlsafe(32),
                            time.time() + self.ttl_seconds)  # fmt: skip
        key = self.keys.ui_session(_hash(cookie))
        fields = {
            "subject": principal.subject, "tenant": principal.tenant_id or "",
            "role": principal.role.value, "method": principal.method, "key_id": key_id or "",
            "csrf": session.csrf, "expires_at": str(session.expires_at),
        }  # fmt: skip
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.ttl_seconds)
            await pipe.execute()
        return cookie, session

    async def get(self, cookie: str | None) -> UiSession | None:
        """The live session of a cookie value, or ``None``."""
        if not cookie or len(cookie) > 100:
            return None
        raw = await self.redis.hgetall(self.keys.ui_session(_hash(cookie)))  # type: ignore[misc]
        if not raw:
            return None
        h = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
             else v) for k, v in raw.items()}  # fmt: skip
        principal = Principal(
            subject=h["subject"],
            tenant_id=h["tenant"] or None,
            role=Role(h["role"]),
            method=cast(AuthMethod, h["method"]),
        )
        return UiSession(principal, h["key_id"] or None, h["csrf"], float(h["expires_at"]))

    async def delete(self, cookie: str | None) -> None:
        """End a session (logout, or its key was revoked)."""
        if cookie:
            await self.redis.delete(self.keys.ui_session(_hash(cookie)))


def sessions_of(conn: HTTPConnection) -> SessionStore:
    """The app's :class:`SessionStore`."""
    store: SessionStore = conn.app.state.ui_sessions
    return store


async def login(auth: GatewayAuth, api_key: str) -> tuple[Principal, str | None]:
    """Check an API key for a login.

    Returns:
        ``(principal, key id)``.

    Raises:
        AuthenticationError: Not a valid, live API key (JWTs and the metrics token are for
            API clients, not for dashboard logins).
    """
    authenticator = auth.authenticator
    if not authenticator.enabled:
        principal = await authenticator.authenticate(None)
        return principal, None
    if not looks_like_key(api_key.strip()):
        raise AuthenticationError("an API key is required", details={"reason": "key_invalid"})
    principal = await authenticator.authenticate(api_key.strip())
    parsed = parse(api_key.strip())
    return principal, parsed[0] if parsed else None


async def current_user(conn: HTTPConnection) -> UiUser:
    """The dashboard user of a request (a FastAPI dependency).

    Re-reads the API key so that a revoked key ends the session.

    Raises:
        LoginRequired: No cookie, an expired session, or a revoked key.
    """
    store = sessions_of(conn)
    cookie = conn.cookies.get(COOKIE_NAME)
    session = await store.get(cookie)
    if session is None:
        raise LoginRequired
    if session.key_id is not None:
        record = await auth_of(conn).authenticator.keys.get(session.key_id)
        if record is None or record.revoked_at is not None:
            await store.delete(cookie)
            raise LoginRequired
    conn.state.principal = session.principal  # what audit_refusal names
    return UiUser(session, actor_of(conn, session.principal))


async def check_csrf(request: Request, user: UiUser) -> None:
    """Refuse a mutating request that lacks the session's CSRF token.

    Raises:
        CsrfError: 403 ``csrf_invalid``.
    """
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), user.session.csrf.encode()):
        raise CsrfError(
            "the request lacks this session's CSRF token", details={"reason": "csrf_invalid"}
        )


def check_origin(conn: HTTPConnection) -> None:
    """Refuse a cookie-authenticated request whose ``Origin`` is neither the gateway's own nor
    one of ``ORCH_AUTH__CORS_ORIGINS`` (absent ``Origin``: a same-origin GET, allowed).

    Raises:
        OriginError: 403 ``origin_forbidden``.
    """
    origin = conn.headers.get("origin")
    if origin is None:
        return
    own = f"{conn.url.scheme}://{conn.headers.get('host', '')}"
    if conn.url.scheme == "ws":
        own = f"http://{conn.headers.get('host', '')}"
    elif conn.url.scheme == "wss":
        own = f"https://{conn.headers.get('host', '')}"
    allowed = {own, *auth_of(conn).services.settings.auth.cors_origins}
    if origin not in allowed:
        raise OriginError(
            f"origin {origin!r} may not open this stream",
            details={"reason": "origin_forbidden", "origin": origin},
        )


__all__ = [
    "COOKIE_NAME",
    "CSRF_FIELD",
    "CsrfError",
    "LoginRequired",
    "OriginError",
    "SessionStore",
    "UiSession",
    "UiUser",
    "check_csrf",
    "check_origin",
    "current_user",
    "login",
    "sessions_of",
]
