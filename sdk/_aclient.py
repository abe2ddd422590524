"""``AsyncClient``: the gateway's API (v1) on ``httpx.AsyncClient``; events over SSE (httpx-sse)."""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx
from httpx_sse import aconnect_sse

from sdk import _routes as routes
from sdk._errors import TransportError, error_for, unreachable
from sdk._models import (
    Answered,
    BatchAnswer,
    Cancelled,
    Event,
    Job,
    JobPage,
    Retried,
    StepOutput,
    Submitted,
    Trace,
    WorkflowInfo,
)

T = TypeVar("T")

STREAM_TIMEOUT = httpx.Timeout(30.0, read=None)
"""A stream waits for events without a read timeout (a step may think for minutes)."""
RECONNECT_PAUSE_SECONDS = 0.25
"""Pause before a reconnect, times the number of failures in a row (bounded by ``max_reconnects``)."""


def settings_from_env(base_url: str | None, api_key: str | None) -> tuple[str, str | None]:
    """The gateway URL and key: the arguments, else ``ORCH_GATEWAY__URL`` / ``ORCH_GATEWAY__API_KEY``."""
    url = base_url or os.environ.get("ORCH_GATEWAY__URL") or routes.DEFAULT_URL
    key = api_key if api_key is not None else os.environ.get("ORCH_GATEWAY__API_KEY") or None
    return url.rstrip("/"), key


class AsyncEventStream:
    """A job's events, read to the terminal event, or closed early with :meth:`aclose`.

    Iterate it (``async for event in stream``) and, to stop before the end, use it as a context
    manager (``async with client.events(id) as stream:``) or call :meth:`aclose`: the HTTP
    response is closed either way.
    """

    def __init__(self, source: AsyncGenerator[Event, None]) -> None:
        self._source = source
        self.job_id: str | None = None

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Event:
        event = await self._source.__anext__()
        self.job_id = event.job_id
        return event

    async def aclose(self) -> None:
        """Stop reading and close the connection."""
        await self._source.aclose()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncClient:
    """Async client of the AgentOrchestrator gateway.

    Args:
        base_url: The gateway, e.g. ``http://127.0.0.1:8000``; default ``ORCH_GATEWAY__URL``.
        api_key: Sent as ``Authorization: Bearer <key>`` (an API key or a JWT); default
            ``ORCH_GATEWAY__API_KEY``.
        timeout_seconds: Per-request timeout (streams have no read timeout).
        transport: An httpx transport (``httpx.ASGITransport(app)`` runs against an app in
            this process, without sockets).

    Every method raises an :class:`sdk.ApiError` subclass carrying the API's ``code``:
    ``NotFoundError`` (404), ``BadRequestError`` (422, with the missing or ill-typed inputs in
    ``details``), ``ConflictError`` (409), ``AuthError``, ``RateLimitedError``, ``ServerError``,
    ``TransportError`` (``gateway_unreachable``).

    Example::

        async with AsyncClient("http://127.0.0.1:8000", api_key=key) as client:
            job = await client.submit("company_brief", {"doc_id": "d1", "ticker": "ACME"})
            async for event in client.events(job.job_id):
                print(event.type, event.data)
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout_seconds: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url, key = settings_from_env(base_url, api_key)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout_seconds, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _response(self, call: routes.Call[Any]) -> httpx.Response:
        try:
            response = await self._http.request(
                call.method, call.path, params=call.params, json=call.json
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise unreachable(self.base_url, exc) from exc
        except httpx.TransportError as exc:
            raise TransportError(
                0,
                "gateway_unreachable",
                f"no answer from {self.base_url}: {type(exc).__name__}",
                {"url": self.base_url},
            ) from exc
        if response.status_code >= 400:
            raise error_for(response)
        return response

    async def _send(self, call: routes.Call[T]) -> T:
        return call.parse((await self._response(call)).json())

    async def submit(
        self,
        workflow: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        priority: int | None = None,
        version: str | None = None,
    ) -> Submitted:
        """Submit a job (``POST /v1/jobs``).

        Args:
            workflow: A registered workflow's name.
            inputs: The workflow's inputs by name (JSON values).
            idempotency_key: A repeated key returns the first job (``replayed`` is then True).
            priority: 0-9, higher runs sooner among due jobs.
            version: Pin the job to this workflow version.

        Returns:
            The accepted job.

        Raises:
            NotFoundError: ``workflow_not_found`` (``details["known"]`` lists the names).
            BadRequestError: ``inputs_invalid`` (``details["errors"]`` names each input).
        """
        call = routes.submit(
            workflow, inputs, idempotency_key=idempotency_key, priority=priority, version=version
        )
        response = await self._response(call)
        job = call.parse(response.json())
        job.replayed = response.headers.get("idempotent-replayed") == "true"
        return job

    async def submit_batch(self, jobs: Sequence[Mapping[str, Any]]) -> list[BatchAnswer]:
        """Submit up to 1,000 jobs in one request (``POST /v1/jobs/batch``).

        Args:
            jobs: Each a submit's fields: ``workflow``, and optionally ``inputs``,
                ``idempotency_key``, ``priority``, ``version``.

        Returns:
            One answer per job, in order: its ``job_id``, or its ``error`` (a bad job does not
            refuse the others).

        Raises:
            OrchestratorError: The whole request was refused, e.g. more than 1,000 jobs
                (``payload_too_large``) or not a list of jobs (``request_invalid``).
        """
        call = routes.submit_batch([dict(job) for job in jobs])
        response = await self._response(call)
        return call.parse(response.json())

    def run(
        self,
        workflow: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        priority: int | None = None,
        version: str | None = None,
        max_reconnects: int = 5,
    ) -> AsyncEventStream:
        """Submit a job and stream its events to the terminal one, in one request.

        ``POST /v1/jobs`` with ``Accept: text/event-stream``: the first event is ``job.queued``
        and each carries ``job_id`` (also on the stream's ``job_id`` attribute). A broken stream
        resumes with :meth:`events` after the last event received.

        Raises:
            ApiError: As :meth:`submit`; ``TransportError`` (``stream_failed``) when the stream
                kept failing.
        """
        body = routes.submit_body(
            workflow, inputs, idempotency_key=idempotency_key, priority=priority, version=version
        )
        return AsyncEventStream(self._run(body, max_reconnects))

    async def _run(self, body: dict[str, Any], max_reconnects: int) -> AsyncGenerator[Event, None]:
        job_id: str | None = None
        last: Event | None = None
        try:
            async for event in self._sse("POST", "/v1/jobs", json=body):
                job_id, last = event.job_id, event
                yield event
            if last is not None and last.terminal:
                return  # the gateway ends the stream after the job's (last) terminal event
        except TransportError:
            if job_id is None:
                raise
        if job_id is None:
            raise TransportError(0, "stream_failed", "the event stream ended before any event")
        async for event in self._events(job_id, last.id if last else None, max_reconnects):
            yield event

    async def _sse(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[Event]:
        try:
            async with aconnect_sse(
                self._http, method, path, timeout=STREAM_TIMEOUT, **kwargs
            ) as source:
                if source.response.status_code >= 400:
                    await source.response.aread()
                    raise error_for(source.response)
                async for sse in source.aiter_sse():
                    if sse.data:
                        yield Event.model_validate_json(sse.data)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise unreachable(self.base_url, exc) from exc
        except httpx.TransportError as exc:
            raise TransportError(
                0, "stream_failed", f"event stream failed: {exc!r}", {"url": self.base_url}
            ) from exc

    def events(
        self, job_id: str, *, last_event_id: str | None = None, max_reconnects: int = 5
    ) -> AsyncEventStream:
        """The job's events until the terminal one (``GET /v1/jobs/{id}/events``, SSE).

        A late client gets everything from the start (or after ``last_event_id``); a broken
        connection is resumed with ``Last-Event-ID``, so no event is lost or repeated.

        Raises:
            NotFoundError: ``job_not_found``.
            TransportError: The gateway is unreachable, or the stream failed
                ``max_reconnects`` times in a row.
        """
        return AsyncEventStream(self._events(job_id, last_event_id, max_reconnects))

    async def _events(
        self, job_id: str, last: str | None, max_reconnects: int
    ) -> AsyncGenerator[Event, None]:
        failures = 0
        while True:
            headers = {"Last-Event-ID": last} if last else {}
            try:
                async for event in self._sse("GET", routes.events_path(job_id), headers=headers):
                    last, failures = event.id, 0
                    yield event
                # The gateway ends the stream after the job's terminal event; a terminal event
                # followed by more (the job was retried) does not end it.
                return
            except TransportError as exc:
                failures += 1
                if failures > max_reconnects or (
                    exc.code == "gateway_unreachable" and last is None
                ):
                    raise
                await asyncio.sleep(RECONNECT_PAUSE_SECONDS * failures)

    async def get(self, job_id: str) -> Job:
        """The job with its steps, result, open questions and ``blocked`` reason.

        Raises:
            NotFoundError: ``job_not_found``.
        """
        return await self._send(routes.get(job_id))

    async def list(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JobPage:
        """The caller's jobs, newest first (``limit`` 1-500), filtered; ``total`` counts all."""
        return await self._send(
            routes.list_jobs(
                status=status,
                workflow=workflow,
                created_after=created_after,
                created_before=created_before,
                limit=limit,
                offset=offset,
            )
        )

    async def cancel(self, job_id: str, *, hard: bool = False) -> Cancelled:
        """Cancel a job (``hard``: also delete its worker pod in Kubernetes).

        Raises:
            ConflictError: ``job_state_conflict``: the job already finished.
        """
        return await self._send(routes.cancel(job_id, hard=hard))

    async def retry(self, job_id: str) -> Retried:
        """Queue a failed or cancelled job again; finished steps do not run again.

        Raises:
            ConflictError: ``job_state_conflict``: the job is neither failed nor cancelled.
        """
        return await self._send(routes.retry(job_id))

    async def answer(self, job_id: str, answer: Any, *, step: str | None = None) -> Answered:
        """Answer a waiting job's question (``step``: which, when several steps ask).

        Raises:
            BadRequestError: ``answer_invalid``: it does not match the question's schema.
            ConflictError: ``job_state_conflict``: the job is not waiting.
        """
        return await self._send(routes.answer(job_id, answer, step=step))

    async def trace(self, job_id: str) -> Trace:
        """The job's step-level waterfall: every attempt's start, end, worker, status, error."""
        return await self._send(routes.trace(job_id))

    async def step_output(self, job_id: str, step: str) -> StepOutput:
        """A step's checkpointed output (fan-out instances as ``step[i]``).

        Raises:
            NotFoundError: ``step_not_found`` or ``output_not_found`` (not finished yet).
        """
        return await self._send(routes.step_output(job_id, step))

    async def workflows(self) -> builtins.list[WorkflowInfo]:
        """The registered workflows with their DAGs and inputs schemas."""
        return await self._send(routes.workflows())

    async def workflow(self, name: str) -> WorkflowInfo:
        """One workflow's DAG.

        Raises:
            NotFoundError: ``workflow_not_found``.
        """
        return await self._send(routes.workflow(name))


__all__ = ["AsyncClient", "AsyncEventStream", "settings_from_env"]
