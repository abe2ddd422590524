"""The access log: one structlog line per HTTP request (JSON unless the log goes to a terminal).

``method``, ``path``, ``status``, ``duration_ms`` (to the end of the response: a stream's
whole life), ``client``, and the ``request_id`` of the request's log context. Probes and scrapes
(:data:`QUIET_PATHS`) are not logged: they arrive every few seconds and say nothing.
"""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("gateway.access")

QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/system/queue-depth"})


class AccessLogMiddleware:
    """Pure ASGI, so that streaming responses pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "websocket.accept":
                status = 101
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            client = scope.get("client")
            log.info(
                "request",
                method=scope.get("method", "WS"),
                path=scope.get("path"),
                status=status or 500,
                duration_ms=round((time.perf_counter() - start) * 1000, 2),
                client=f"{client[0]}:{client[1]}" if client else None,
            )


__all__ = ["QUIET_PATHS", "AccessLogMiddleware"]
