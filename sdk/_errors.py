"""Errors the SDK's clients raise: one class per kind of failure, each carrying the API's code.

::

    ApiError (orchestrator.errors.OrchestratorError)   .status_code, .code, .message, .details
    ├── BadRequestError          400, 413, 422  (inputs_invalid, answer_invalid, request_invalid, …)
    ├── AuthError                401, 403       (unauthenticated, forbidden)
    ├── NotFoundError            404            (job_not_found, workflow_not_found, …)
    ├── ConflictError            409            (job_state_conflict)
    ├── RateLimitedError         429            (.retry_after_seconds)
    ├── ServerError              5xx            (state_unavailable, queue_unavailable, …)
    └── TransportError           no answer      (gateway_unreachable, stream_failed)
"""

from __future__ import annotations

from typing import Any

import httpx

from orchestrator.errors import OrchestratorError


class ApiError(OrchestratorError):
    """The gateway answered with an error, or could not be reached.

    Attributes:
        status_code: The HTTP status (0 when there was no answer).
        code: The stable code of the error envelope (``workflow_not_found``, ...); match on it.
        message: The gateway's sentence (may change between versions).
        details: The envelope's ``details`` (e.g. the missing inputs, the known workflows).
    """

    def __init__(self, status_code: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, details=details if isinstance(details, dict) else {})
        self.status_code = status_code
        self.code = code

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class BadRequestError(ApiError):
    """The request was refused as invalid (400, 413, 422)."""


class AuthError(ApiError):
    """No valid credentials (401) or not allowed (403)."""


class NotFoundError(ApiError):
    """No such job, step, output or workflow (404), or another tenant's."""


class ConflictError(ApiError):
    """The job is not in a state that allows this (409 ``job_state_conflict``)."""


class RateLimitedError(ApiError):
    """Too many requests (429); ``retry_after_seconds`` from the ``Retry-After`` header."""

    retry_after_seconds: float | None = None


class ServerError(ApiError):
    """The gateway failed or a backing store is down (5xx)."""


class TransportError(ApiError):
    """No answer: the gateway is unreachable (``gateway_unreachable``) or a stream kept failing
    (``stream_failed``)."""


def error_for(response: httpx.Response) -> ApiError:
    """Build the :class:`ApiError` subclass for an error ``response`` (its body read).

    Args:
        response: An answer with status >= 400 whose body is the error envelope of DESIGN §6
            (``{"error": {"code", "message", "details"}}``) or, from a proxy, anything else.

    Returns:
        The error, by status; the envelope's code, or ``http_<status>`` when there is none.
    """
    status = response.status_code
    try:
        body = response.json()["error"]
        code, message, details = str(body["code"]), str(body["message"]), body.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = (
            f"http_{status}",
            response.text[:200] or response.reason_phrase,
            None,
        )
    cls: type[ApiError]
    if status in (401, 403):
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = ConflictError
    elif status == 429:
        cls = RateLimitedError
    elif status >= 500:
        cls = ServerError
    else:
        cls = BadRequestError
    error = cls(status, code, message, details)
    if isinstance(error, RateLimitedError):
        try:
            error.retry_after_seconds = float(response.headers.get("retry-after", ""))
        except ValueError:
            error.retry_after_seconds = None
    return error


def unreachable(base_url: str, exc: Exception) -> TransportError:
    """The error for a gateway that did not answer at all (connection refused, DNS, timeout)."""
    return TransportError(
        0,
        "gateway_unreachable",
        f"cannot reach the gateway at {base_url} ({type(exc).__name__}): start it with "
        "`orchestrator gateway` (or `orchestrator dev`), or point ORCH_GATEWAY__URL at it",
        {"url": base_url},
    )


__all__ = [
    "ApiError",
    "AuthError",
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
    "error_for",
    "unreachable",
]
