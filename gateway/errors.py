"""Error responses: ``{"error": {"code", "message", "details"}}``, mapped from the error tree in one
table. Bad input is a 4xx with a stable code; only an unexpected failure is a 500, and it never
carries a stack trace.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.auth import audit_refusal, should_audit, www_authenticate
from orchestrator.agents.errors import (
    AgentNotFoundError,
    TaskEmptyError,
    TaskNotFoundError,
    TaskTooLongError,
)
from orchestrator.errors import (
    AuthenticationError,
    ConfigError,
    DagError,
    InputValidationError,
    JobNotFoundError,
    JobNotVisibleError,
    JobStateConflictError,
    OrchestratorError,
    OutputNotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QueueError,
    RateLimitedError,
    StateError,
    StepNotFoundError,
    TagInvalidError,
    TagNotFoundError,
    ToolArgumentsError,
    ToolError,
    ToolForbiddenError,
    ToolNotFoundError,
    ToolTimeoutError,
    TraceError,
    WorkflowNotFoundError,
)
from orchestrator.k8s.base import ClusterError
from orchestrator.storable import printable

log = structlog.get_logger("gateway.errors")

STATUS_BY_ERROR: dict[type[OrchestratorError], int] = {
    WorkflowNotFoundError: 404,
    JobNotFoundError: 404,
    StepNotFoundError: 404,
    OutputNotFoundError: 404,
    InputValidationError: 422,  # includes answer_invalid and version_unknown
    DagError: 422,
    JobStateConflictError: 409,
    StateError: 503,
    QueueError: 503,
    TraceError: 503,
    ClusterError: 503,
    ConfigError: 500,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    RateLimitedError: 429,
    PayloadTooLargeError: 413,
    ToolNotFoundError: 404,
    ToolForbiddenError: 403,
    ToolArgumentsError: 422,
    ToolTimeoutError: 504,
    ToolError: 502,  # the MCP server failed: mcp_unavailable, mcp_auth_required, tool_failed
    TagInvalidError: 422,
    TagNotFoundError: 404,
    TaskEmptyError: 422,
    TaskTooLongError: 422,
    TaskNotFoundError: 404,
    AgentNotFoundError: 404,
}
"""HTTP status of each error class; subclasses inherit their nearest ancestor's status."""

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def status_for(exc: OrchestratorError) -> int:
    """The HTTP status for an error, by its class's nearest entry in :data:`STATUS_BY_ERROR`."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def auth_headers(exc: OrchestratorError) -> dict[str, str] | None:
    """``WWW-Authenticate`` of a 401, ``Retry-After`` of a 429."""
    if isinstance(exc, AuthenticationError):
        return {"WWW-Authenticate": www_authenticate(exc)}
    if isinstance(exc, RateLimitedError):
        return {"Retry-After": str(exc.retry_after_seconds)}
    return None


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error envelope of DESIGN §6.

    Message and details may echo parts of a hostile request (a key with a lone surrogate, a
    NaN): they are made printable, so writing the error can never fail in turn.
    """
    return {"error": {"code": code, "message": printable(message),
                      "details": printable(details or {})}}  # fmt: skip


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the error envelope."""

    @app.exception_handler(OrchestratorError)
    async def _orchestrator(request: Request, exc: OrchestratorError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("request failed", path=request.url.path, code=exc.code, error=exc.message)
        headers = auth_headers(exc)
        if should_audit(request, exc, status):
            await audit_refusal(
                request,
                status=status,
                code=exc.code,
                reason=exc.details.get("reason")
                or ("job_not_visible" if isinstance(exc, JobNotVisibleError) else None),
            )
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": [str(p) for p in err.get("loc", ())],
                "type": err.get("type"),
                "message": err.get("msg"),
            }
            for err in exc.errors()
        ]
        malformed = any(e["type"] == "json_invalid" for e in errors)
        code = "json_invalid" if malformed else "request_invalid"
        if should_audit(request, None, 422):
            await audit_refusal(request, status=422, code=code)
        message = "the body is not valid JSON" if malformed else "the request is invalid"
        return JSONResponse(error_body(code, message, {"errors": errors}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred"), status_code=500
        )


__all__ = ["STATUS_BY_ERROR", "auth_headers", "error_body", "install_error_handlers", "status_for"]
