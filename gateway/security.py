"""Hostile-input limits and security headers (docs/security.md).

- :class:`BodySizeLimitMiddleware`: a request body above ``auth.max_body_bytes`` is a 413
  ``payload_too_large``, whether announced by ``Content-Length`` or streamed in chunks; a JSON
  body that is not UTF-8 or nests past the parser's limit is a 422 ``json_invalid``.
- :func:`check_inputs`: job inputs deeper than ``auth.max_inputs_depth`` or larger than
  ``auth.max_inputs_bytes`` (serialized) are a 422 ``inputs_too_deep`` / ``inputs_too_large``.
- :data:`NAME_PATTERN`: workflow and step names in requests (422 ``request_invalid``).
- :class:`SecurityHeadersMiddleware`: ``nosniff``, no framing, no referrer, ``no-store``.

All are pure ASGI, so streaming responses pass untouched.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import error_body
from gateway.schemas import NAME_PATTERN, STEP_PATTERN
from orchestrator.config import AuthSettings
from orchestrator.errors import InputsTooDeepError, InputsTooLargeError, InputValidationError
from orchestrator.serialization import dumps
from orchestrator.storable import find_unstorable

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
)


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, iteratively (a deep value cannot exhaust the stack)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            if children:
                stack.extend([(child, level + 1) for child in children])
    return deepest


def check_inputs(inputs: dict[str, Any], settings: AuthSettings) -> None:
    """Refuse job inputs that are too deep or too large.

    Raises:
        InputsTooDeepError: Nested deeper than ``max_inputs_depth`` (the object itself is 1).
        InputValidationError: Values no store can keep (NUL, lone surrogates, NaN or
            infinities); ``details["errors"]`` names each input path.
        InputsTooLargeError: Larger than ``max_inputs_bytes`` as JSON.
    """
    depth = _depth(inputs, settings.max_inputs_depth)
    if depth > settings.max_inputs_depth:
        raise InputsTooDeepError(
            f"inputs nest deeper than {settings.max_inputs_depth} levels",
            details={"max_depth": settings.max_inputs_depth},
        )
    problems = find_unstorable(inputs)
    if problems:  # before measuring: a lone surrogate has no JSON encoding to measure
        errors = [p.as_error() for p in problems]
        raise InputValidationError(
            "invalid inputs: " + ", ".join(e["parameter"] for e in errors),
            details={"errors": errors},
        )
    size = len(dumps(inputs))
    if size > settings.max_inputs_bytes:
        raise InputsTooLargeError(
            f"inputs are {size} bytes; the limit is {settings.max_inputs_bytes}",
            details={"bytes": size, "max_bytes": settings.max_inputs_bytes},
        )


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(scope: Scope) -> bool:
    """The request body is read as JSON (FastAPI also parses a body without a content type)."""
    raw: bytes | None = dict(scope.get("headers") or []).get(b"content-type")
    if raw is None:
        return True
    media = raw.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


SHALLOW_BRACKETS = 200
"""A body with fewer opening brackets than this nests less deep than any recursion limit."""


def json_body_problem(body: bytes) -> dict[str, Any] | None:
    """Why a JSON request body cannot be read, before any route sees it, or ``None``.

    JSON between systems must be UTF-8 (RFC 8259 §8.1); and a document nested deeper than the
    parser's recursion limit would otherwise escape the validation errors as a bare 400. Syntax
    errors are left to the route's validation (a 422 ``json_invalid`` with its position).

    Returns:
        ``{"reason", ...}`` for the 422 ``json_invalid`` details, or ``None``.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {"reason": "not_utf8", "position": exc.start}
    if body.count(b"[") + body.count(b"{") < SHALLOW_BRACKETS:
        return None  # cannot nest deep enough to matter: no second parse of every body
    try:
        json.loads(text)
    except RecursionError:
        return {"reason": "too_deep"}
    except ValueError:
        return None
    return None


class BodySizeLimitMiddleware:
    """Reads a request body up to ``max_bytes``: 413 above it, 422 for unreadable JSON.

    The body is read before the app runs (announced by ``Content-Length`` or streamed in chunks
    without one), so a refusal never depends on how the route parses it; the app then receives
    the same body, and later messages (``http.disconnect``) pass through untouched.

    Args:
        app: The wrapped app.
        max_bytes: The limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = dict(scope.get("headers") or []).get(b"content-length")
        if announced is not None and (not announced.isdigit()
                                      or int(announced) > self.max_bytes):  # fmt: skip
            await self._refuse(send)
            return
        if scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body was complete
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(scope):
            problem = json_body_problem(body)
            if problem is not None:
                await self._answer(send, 422, error_body(
                    "json_invalid", "the body is not valid JSON", problem))  # fmt: skip
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        await self._answer(send, 413, error_body(
            "payload_too_large", f"the request body exceeds {self.max_bytes} bytes",
            {"max_bytes": self.max_bytes}))  # fmt: skip

    @staticmethod
    async def _answer(send: Send, status: int, envelope: dict[str, Any]) -> None:
        body = dumps(envelope)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), *SECURITY_HEADERS,
        ]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` and ``Cache-Control: no-store`` (unless the route set a
    ``Cache-Control``, as SSE does) to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


__all__ = [
    "NAME_PATTERN",
    "SECURITY_HEADERS",
    "STEP_PATTERN",
    "BodySizeLimitMiddleware",
    "SecurityHeadersMiddleware",
    "check_inputs",
]
