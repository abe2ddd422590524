"""``Client``: the gateway's API (v1) on ``httpx.Client`` (blocking); events over SSE (httpx-sse).

The same routes as :class:`sdk.AsyncClient` (both send :mod:`sdk._routes`' calls), for scripts,
notebooks and the CLI.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx
from httpx_sse import connect_sse

from sdk import _routes as routes
from sdk._aclient import RECONNECT_PAUSE_SECONDS, STREAM_TIMEOUT, settings_from_env
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


class EventStream:
    """A job's events, read to the terminal event, or closed early with :meth:`close`.

    Iterate it (``for event in stream``); to stop before the end, use it as a context manager
    (``with client.events(id) as stream:``) or call :meth:`close`: the HTTP response is closed
    either way.
    """

    def __init__(self, source: Generator[Event, None, None]) -> None:
        self._source = source
        self.job_id: str | None = None

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Event:
        event = next(self._source)
        self.job_id = event.job_id
        return event

    def close(self) -> None:
        """Stop reading and close the connection."""
        self._source.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Client:
    """Blocking client of the AgentOrchestrator gateway.

    Args:
        base_url: The gateway, e.g. ``http://127.0.0.1:8000``; default ``ORCH_GATEWAY__URL``.
        api_key: Sent as ``Authorization: Bearer <key>`` (an API key or a JWT); default
            ``ORCH_GATEWAY__API_KEY``.
        timeout_seconds: Per-request timeout (streams have no read timeout).
        transport: An httpx transport (``httpx.MockTransport`` in unit tests).

    Errors are those of :class:`sdk.AsyncClient`: :class:`sdk.ApiError` subclasses carrying
    the API's ``code``.

    Example::

        with Client() as client:                       # ORCH_GATEWAY__URL, ORCH_GATEWAY__API_KEY
            job = client.submit("company_brief", {"doc_id": "d1", "ticker": "ACME"})
            for event in client.events(job.job_id):
                if event.type == "step.chunk":
                    print(event.data, end="")
            print(client.get(job.job_id).result)
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout_seconds: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url, key = settings_from_env(base_url, api_key)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_seconds, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _response(self, call: routes.Call[Any]) -> httpx.Response:
        try:
            response = self._http.request(
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

    def _send(self, call: routes.Call[T]) -> T:
        return call.parse(self._response(call).json())

    def submit(
        self,
        workflow: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        priority: int | None = None,
        version: str | None = None,
    ) -> Submitted:
        """Submit a job; see :meth:`sdk.AsyncClient.submit`."""
        call = routes.submit(
            workflow, inputs, idempotency_key=idempotency_key, priority=priority, version=version
        )
        response = self._response(call)
        job = call.parse(response.json())
        job.replayed = response.headers.get("idempotent-replayed") == "true"
        return job

    def submit_batch(self, jobs: Sequence[Mapping[str, Any]]) -> list[BatchAnswer]:
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
        response = self._response(call)
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
    ) -> EventStream:
        """Submit a job and stream its events in one request; see :meth:`sdk.AsyncClient.run`."""
        body = routes.submit_body(
            workflow, inputs, idempotency_key=idempotency_key, priority=priority, version=version
        )
        return EventStream(self._run(body, max_reconnects))

    def _run(self, body: dict[str, Any], max_reconnects: int) -> Generator[Event, None, None]:
        job_id: str | None = None
        last: Event | None = None
        try:
            for event in self._sse("POST", "/v1/jobs", json=body):
                job_id, last = event.job_id, event
                yield event
            if last is not None and last.terminal:
                return  # the gateway ends the stream after the job's (last) terminal event
        except TransportError:
            if job_id is None:
                raise
        if job_id is None:
            raise TransportError(0, "stream_failed", "the event stream ended before any event")
        yield from self._events(job_id, last.id if last else None, max_reconnects)

    def _sse(self, method: str, path: str, **kwargs: Any) -> Iterator[Event]:
        try:
            with connect_sse(self._http, method, path, timeout=STREAM_TIMEOUT, **kwargs) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    raise error_for(source.response)
                for sse in source.iter_sse():
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
    ) -> EventStream:
        """The job's events until the terminal one; see :meth:`sdk.AsyncClient.events`."""
        return EventStream(self._events(job_id, last_event_id, max_reconnects))

    def _events(
        self, job_id: str, last: str | None, max_reconnects: int
    ) -> Generator[Event, None, None]:
        failures = 0
        while True:
            headers = {"Last-Event-ID": last} if last else {}
            try:
                for event in self._sse("GET", routes.events_path(job_id), headers=headers):
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
                time.sleep(RECONNECT_PAUSE_SECONDS * failures)  # back off before reconnecting

    def get(self, job_id: str) -> Job:
        """The job with its steps, result, open questions and ``blocked`` reason."""
        return self._send(routes.get(job_id))

    def list(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> JobPage:
        """The caller's jobs, newest first; see :meth:`sdk.AsyncClient.list`."""
        return self._send(
            routes.list_jobs(
                status=status,
                workflow=workflow,
                created_after=created_after,
                created_before=created_before,
                limit=limit,
                offset=offset,
            )
        )

    def cancel(self, job_id: str, *, hard: bool = False) -> Cancelled:
        """Cancel a job; see :meth:`sdk.AsyncClient.cancel`."""
        return self._send(routes.cancel(job_id, hard=hard))

    def retry(self, job_id: str) -> Retried:
        """Queue a failed or cancelled job again; see :meth:`sdk.AsyncClient.retry`."""
        return self._send(routes.retry(job_id))

    def answer(self, job_id: str, answer: Any, *, step: str | None = None) -> Answered:
        """Answer a waiting job's question; see :meth:`sdk.AsyncClient.answer`."""
        return self._send(routes.answer(job_id, answer, step=step))

    def trace(self, job_id: str) -> Trace:
        """The job's step-level waterfall."""
        return self._send(routes.trace(job_id))

    def step_output(self, job_id: str, step: str) -> StepOutput:
        """A step's checkpointed output; see :meth:`sdk.AsyncClient.step_output`."""
        return self._send(routes.step_output(job_id, step))

    def workflows(self) -> builtins.list[WorkflowInfo]:
        """The registered workflows with their DAGs and inputs schemas."""
        return self._send(routes.workflows())

    def workflow(self, name: str) -> WorkflowInfo:
        """One workflow's DAG; ``NotFoundError`` (``workflow_not_found``) if unknown."""
        return self._send(routes.workflow(name))


__all__ = ["Client", "EventStream"]
