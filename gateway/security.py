"""Hostile-input limits and security headers (docs/security.md).

- :class:`BodySizeLimitMiddleware`: a request body above ``auth.max_body_bytes`` is a 413
  ``payload_too_large``, whether announced by ``Content-Length`` or streamed in chunks.
- :func:`check_inputs`: job inputs deeper than ``auth.max_inputs_depth`` or larger than
  ``auth.max_inputs_bytes`` (serialized) are a 422 ``inputs_too_deep`` / ``inputs_too_large``.
- :data:`NAME_PATTERN`: workflow and step names in requests (422 ``request_invalid``).
- :class:`SecurityHeadersMiddleware`: ``nosniff``, no framing, no referrer, ``no-store``.

All are pure ASGI, so streaming responses pass untouched.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import error_body
from gateway.schemas import NAME_PATTERN, STEP_PATTERN
from orchestrator.config import AuthSettings
from orchestrator.errors import InputsTooDeepError, InputsTooLargeError, PayloadTooLargeError
from orchestrator.serialization import dumps

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
            stack.extend((child, level + 1) for child in children)
    return deepest


def check_inputs(inputs: dict[str, Any], settings: AuthSettings) -> None:
    """Refuse job inputs that are too deep or too large.

    Raises:
        InputsTooDeepError: Nested deeper than ``max_inputs_depth`` (the object itself is 1).
        InputsTooLargeError: Larger than ``max_inputs_bytes`` as JSON.
    """
    depth = _depth(inputs, settings.max_inputs_depth)
    if depth > settings.max_inputs_depth:
        raise InputsTooDeepError(
            f"inputs nest deeper than {settings.max_inputs_depth} levels",
            details={"max_depth": settings.max_inputs_depth},
        )
    size = len(dumps(inputs))
    if size > settings.max_inputs_bytes:
        raise InputsTooLargeError(
            f"inputs are {size} bytes; the limit is {settings.max_inputs_bytes}",
            details={"bytes": size, "max_bytes": settings.max_inputs_bytes},
        )


class BodySizeLimitMiddleware:
    """Answers 413 to a request body above ``max_bytes``.

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
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised inside the app: its error handler answers 413.
                    raise PayloadTooLargeError(
                        f"the request body exceeds {self.max_bytes} bytes",
                        details={"max_bytes": self.max_bytes},
                    )
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = dumps(error_body("payload_too_large",
                                f"the request body exceeds {self.max_bytes} bytes",
                                {"max_bytes": self.max_bytes}))  # fmt: skip
        await send({"type": "http.response.start", "status": 413, "headers": [
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
