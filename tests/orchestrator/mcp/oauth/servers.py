"""Real servers for the token manager's tests: two authorization servers and an MCP server.

- :func:`oidc_mock`: ``oidc-provider-mock`` (an authlib/Flask OIDC provider from PyPI) behind a
  WSGI middleware counting token requests by grant type.
- :func:`authlib_server`: an authorization server of the tests built on authlib's own server
  grants (``ClientCredentialsGrant``, a ``RefreshTokenGrant`` that rotates refresh tokens), with
  RFC 7662-style introspection, revocation of one access token, and a switch that makes the token
  endpoint answer 503 (oidc-provider-mock has no client_credentials grant and no way to revoke
  only an access token).
- :func:`mcp_server`: a streamable-HTTP MCP server on the official ``mcp`` SDK (``MCPServer``)
  that checks the bearer token of every HTTP request at the authorization server and answers 401
  otherwise; it counts the 401s it sent and the tool calls it served.

Every server binds 127.0.0.1 port 0 and is stopped when its context ends.
"""

from __future__ import annotations

import io
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import flask
import httpx
import uvicorn
import werkzeug.serving
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from mcp.server.mcpserver import MCPServer
from oidc_provider_mock import app as oidc_app

_WAIT_SECONDS = 10.0


@contextmanager
def _serve_wsgi(app: Any) -> Iterator[str]:
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(_WAIT_SECONDS)


class _TokenRequestCounter:
    """WSGI middleware counting ``POST .../token`` requests by ``grant_type``."""

    def __init__(self, app: Any, counts: Counter[str]) -> None:
        self.app = app
        self.counts = counts
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].endswith("/token"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = _Replay(body)
            grant = parse_qs(body.decode()).get("grant_type", ["?"])[0]
            with self.lock:
                self.counts[grant] += 1
        return self.app(environ, start_response)


def _Replay(body: bytes) -> io.BytesIO:
    return io.BytesIO(body)


@dataclass
class OidcMock:
    """A running oidc-provider-mock."""

    url: str
    token_requests: Counter[str]

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth2/token"

    def register_client(self, redirect_uri: str = "http://127.0.0.1/cb") -> tuple[str, str]:
        """Register a confidential client; return ``(client_id, client_secret)``."""
        reply = httpx.post(f"{self.url}/oauth2/clients", json={"redirect_uris": [redirect_uri]})
        reply.raise_for_status()
        body = reply.json()
        return body["client_id"], body["client_secret"]

    def refresh_token_for(self, client_id: str, client_secret: str, sub: str) -> str:
        """Run the authorization-code flow for user ``sub`` (the consent form posted by the
        test) and return the refresh token it yields."""
        redirect = "http://127.0.0.1/cb"
        reply = httpx.post(
            f"{self.url}/oauth2/authorize",
            params={"client_id": client_id, "redirect_uri": redirect,
                    "response_type": "code", "scope": "openid"},
            data={"sub": sub},
        )  # fmt: skip
        assert reply.status_code == 302, reply.text
        code = parse_qs(reply.headers["location"].split("?", 1)[1])["code"][0]
        tokens = httpx.post(
            self.token_url,
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
            auth=(client_id, client_secret),
        )
        tokens.raise_for_status()
        return str(tokens.json()["refresh_token"])

    def revoke_user(self, sub: str) -> None:
        """Revoke every access and refresh token of ``sub``."""
        httpx.post(f"{self.url}/users/{sub}/revoke-tokens").raise_for_status()

    async def verify(self, client: httpx.AsyncClient, token: str) -> bool:
        """Whether ``token`` is active (the mock's tokens are opaque: ask ``/userinfo``)."""
        reply = await client.get(
            f"{self.url}/userinfo", headers={"Authorization": f"Bearer {token}"}
        )
        return reply.status_code == 200


@contextmanager
def oidc_mock(*, access_token_max_age_seconds: float) -> Iterator[OidcMock]:
    """Run oidc-provider-mock with the given access-token lifetime."""
    counts: Counter[str] = Counter()
    app = oidc_app(access_token_max_age=timedelta(seconds=access_token_max_age_seconds))
    with _serve_wsgi(_TokenRequestCounter(app, counts)) as url:
        yield OidcMock(url=url, token_requests=counts)


# --- the tests' authlib authorization server -------------------------------------------------


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return ""

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("client_credentials", "refresh_token")


@dataclass
class _Refresh:
    token: str
    client_id: str
    user: str
    revoked: bool = False

    def check_client(self, client: _Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return ""


@dataclass
class AuthlibServer:
    """The running authlib authorization server of the tests."""

    url: str
    client_id: str
    client_secret: str
    token_requests: Counter[str]
    access: dict[str, float] = field(default_factory=dict)  # access token -> expiry (epoch s)
    refresh: dict[str, _Refresh] = field(default_factory=dict)
    down: bool = False
    lifetime_seconds: int = 3600  # of tokens issued from now on (tests may change it)

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def issue_refresh_token(self, user: str) -> str:
        """Mint a refresh token for ``user`` (stands in for a consent page)."""
        token = secrets.token_urlsafe(24)
        self.refresh[token] = _Refresh(token, self.client_id, user)
        return token

    def revoke_access(self, token: str) -> None:
        """Revoke one access token (RFC 7009-style), leaving refresh tokens valid."""
        self.access.pop(token, None)

    async def verify(self, client: httpx.AsyncClient, token: str) -> bool:
        """Whether ``token`` is active, by introspection (RFC 7662)."""
        reply = await client.post(f"{self.url}/introspect", data={"token": token})
        return bool(reply.json()["active"])


class _RotatingRefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    INCLUDE_NEW_REFRESH_TOKEN = True  # every refresh returns a new refresh token

    def authenticate_refresh_token(self, refresh_token: str) -> _Refresh | None:
        state: AuthlibServer = flask.current_app.config["STATE"]
        found = state.refresh.get(refresh_token)
        return found if found is not None and not found.revoked else None

    def authenticate_user(self, refresh_token: _Refresh) -> str:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: _Refresh) -> None:
        refresh_token.revoked = True


@contextmanager
def authlib_server(*, token_lifetime_seconds: int) -> Iterator[AuthlibServer]:
    """Run the tests' authlib authorization server (one registered client)."""
    app = flask.Flask("authlib-test-server")
    counts: Counter[str] = Counter()
    state = AuthlibServer(
        url="", client_id="orchestrator", client_secret=secrets.token_urlsafe(16),
        token_requests=counts, lifetime_seconds=token_lifetime_seconds,
    )  # fmt: skip
    app.config["STATE"] = state
    client = _Client(state.client_id, state.client_secret)

    def save_token(token: dict[str, Any], request: Any) -> None:
        state.access[token["access_token"]] = time.time() + float(token["expires_in"])
        if token.get("refresh_token"):
            user = request.user or ""
            state.refresh[token["refresh_token"]] = _Refresh(
                token["refresh_token"], state.client_id, str(user)
            )

    server = AuthorizationServer(
        app,
        query_client=lambda cid: client if cid == client.client_id else None,
        save_token=save_token,
    )
    server.register_token_generator(
        "default",
        BearerTokenGenerator(
            access_token_generator=lambda **_: secrets.token_urlsafe(24),
            refresh_token_generator=lambda **_: secrets.token_urlsafe(24),  # rotation: a new one
            expires_generator=lambda client, grant_type: state.lifetime_seconds,
        ),
    )
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_grant(_RotatingRefreshGrant)

    @app.post("/token")
    def token() -> Any:
        if state.down:
            return "token endpoint down", 503
        return server.create_token_response()

    @app.post("/introspect")
    def introspect() -> Any:
        expiry = state.access.get(flask.request.form.get("token", ""))
        return {"active": expiry is not None and time.time() < expiry}

    with _serve_wsgi(_TokenRequestCounter(app, counts)) as url:
        state.url = url
        yield state


# --- the protected MCP server ------------------------------------------------------------------


Verifier = Callable[[httpx.AsyncClient, str], Awaitable[bool]]


@dataclass
class McpServer:
    """The running MCP server: ``url`` of its endpoint and what it saw."""

    url: str
    rejected: int = 0  # 401 answers sent
    calls: int = 0  # tool calls served


class _BearerCheck:
    """ASGI middleware: every HTTP request needs a bearer token the authorization server calls
    active, else 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 §3)."""

    def __init__(self, app: Any, verify: Verifier, seen: McpServer) -> None:
        self.app = app
        self.verify = verify
        self.seen = seen
        self.client: httpx.AsyncClient | None = None  # made in the server's own event loop

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode()
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=5.0)
        if token and await self.verify(self.client, token):
            await self.app(scope, receive, send)
            return
        self.seen.rejected += 1
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"www-authenticate", b'Bearer error="invalid_token"'),
            (b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"invalid token"})


@contextmanager
def mcp_server(verify: Verifier) -> Iterator[McpServer]:
    """Run an MCP server with one tool, ``ping`` (returns ``"pong"``), behind the bearer check."""
    seen = McpServer(url="")
    mcp = MCPServer("oauth-protected-test-server")

    @mcp.tool()
    def ping() -> str:
        """Answer pong."""
        seen.calls += 1
        return "pong"

    app = _BearerCheck(mcp.streamable_http_app(), verify, seen)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        deadline = time.monotonic() + _WAIT_SECONDS
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the MCP test server did not start")
            time.sleep(0.01)
        seen.url = f"http://127.0.0.1:{port}/mcp"
        yield seen
    finally:
        server.should_exit = True
        thread.join(_WAIT_SECONDS)
        sock.close()
