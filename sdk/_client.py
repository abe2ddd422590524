"""The HTTP client of the gateway's API (v1), on httpx; streams events over SSE (httpx-sse)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from orchestrator.errors import OrchestratorError

TERMINAL = frozenset({"job.succeeded", "job.failed", "job.cancelled"})


class ApiError(OrchestratorError):
    """The gateway answered with an error.

    Attributes:
        status_code: The HTTP status.
        code: The error's stable code from the body (``workflow_not_found``, ...).
    """

    def __init__(self, status_code: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, details=details if isinstance(details, dict) else {})
        self.status_code = status_code
        self.code = code


class Client:
    """Async client of the AgentOrchestrator gateway.

    Args:
        base_url: The gateway, e.g. ``http://127.0.0.1:8000``.
        api_key: Sent as ``Authorization: Bearer <key>`` when given.
        timeout_seconds: Per-request timeout (streams have no read timeout).

    Use as ``async with Client(url) as client: ...``.
    """

    def __init__(
        self, base_url: str, *, api_key: str | None = None, timeout_seconds: float = 30.0
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout_seconds
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                err = response.json()["error"]
                raise ApiError(response.status_code, err["code"], err["message"], err.get("details"))
            except (ValueError, KeyError, TypeError):
                raise ApiError(response.status_code, f"http_{response.status_code}",
                               response.text[:200]) from None
        return response.json()

    async def submit(
        self, workflow: str, inputs: dict[str, Any] | None = None, *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Submit a job; returns ``{"job_id", "status", "workflow", "created_at", ...}``.

        Raises:
            ApiError: e.g. ``workflow_not_found`` (404) or ``inputs_invalid`` (422).
        """
        body: dict[str, Any] = {"workflow": workflow, "inputs": inputs or {}}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        result: dict[str, Any] = await self._json(await self._http.post("/v1/jobs", json=body))
        return result

    async def run(
        self, workflow: str, inputs: dict[str, Any] | None = None, *,
        idempotency_key: str | None = None, max_reconnects: int = 5,
    ) -> AsyncIterator[dict[str, Any]]:
        """Submit a job and yield its events until the terminal one, in one request.

        ``POST /v1/jobs`` with ``Accept: text/event-stream``; the first event is ``job.queued``
        (each carries ``job_id``). If the stream breaks, it resumes with :meth:`events` from
        the last event received.

        Raises:
            ApiError: As :meth:`submit`, or the stream kept failing.
        """
        body: dict[str, Any] = {"workflow": workflow, "inputs": inputs or {}}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        job_id: str | None = None
        last: str | None = None
        try:
            async with aconnect_sse(
                self._http, "POST", "/v1/jobs", json=body,
                timeout=httpx.Timeout(30.0, read=None),
            ) as source:
                if source.response.status_code >= 400:
                    await source.response.aread()
                    await self._json(source.response)
                async for sse in source.aiter_sse():
                    if not sse.data:
                        continue
                    event: dict[str, Any] = sse.json()
                    job_id, last = event["job_id"], event["id"]
                    yield event
                    if event["type"] in TERMINAL:
                        return
        except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
            if job_id is None:
                raise ApiError(0, "stream_failed", f"event stream failed: {exc}") from exc
        if job_id is None:
            raise ApiError(0, "stream_failed", "the event stream ended before any event")
        async for event in self.events(job_id, last_event_id=last, max_reconnects=max_reconnects):
            yield event

    async def get_job(self, job_id: str) -> dict[str, Any]:
        """The job with its steps and result."""
        result: dict[str, Any] = await self._json(await self._http.get(f"/v1/jobs/{job_id}"))
        return result

    async def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job; raises :class:`ApiError` ``job_state_conflict`` if it finished."""
        result: dict[str, Any] = await self._json(
            await self._http.post(f"/v1/jobs/{job_id}/cancel")
        )
        return result

    async def workflows(self) -> list[dict[str, Any]]:
        """Registered workflows with their DAGs."""
        result: dict[str, Any] = await self._json(await self._http.get("/v1/workflows"))
        return list(result["items"])

    async def events(
        self, job_id: str, *, last_event_id: str | None = None, max_reconnects: int = 5
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the job's events until the terminal one, reconnecting with ``Last-Event-ID``.

        Raises:
            ApiError: The job does not exist, or the stream kept failing.
        """
        last = last_event_id
        failures = 0
        while True:
            headers = {"Last-Event-ID": last} if last else {}
            try:
                async with aconnect_sse(
                    self._http, "GET", f"/v1/jobs/{job_id}/events", headers=headers,
                    timeout=httpx.Timeout(30.0, read=None),
                ) as source:
                    if source.response.status_code >= 400:
                        await source.response.aread()
                        await self._json(source.response)
                    async for sse in source.aiter_sse():
                        if not sse.data:
                            continue
                        event: dict[str, Any] = sse.json()
                        last = event["id"]
                        failures = 0
                        yield event
                        if event["type"] in TERMINAL:
                            return
                return
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                failures += 1
                if failures > max_reconnects:
                    raise ApiError(0, "stream_failed", f"event stream failed: {exc}") from exc


__all__ = ["ApiError", "Client"]
