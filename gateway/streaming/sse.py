"""``GET /v1/jobs/{id}/events``: Server-Sent Events (WHATWG HTML §9.2).

Each event is an unnamed SSE message (so ``EventSource.onmessage`` sees all of them) whose
``id`` is the stream id and whose ``data`` is the event JSON; the browser sends the last id back
as ``Last-Event-ID`` when it reconnects. The response ends after the terminal event.

The messages come from the gateway's :class:`~gateway.streaming.hub.StreamHub` (one Redis
reader per job) already encoded once per event (:meth:`Event.sse_frame`), and the events that
are ready together are written in one send: 100 clients of a job cost no encoding each and one
send per batch each (sse-starlette built, encoded and sent every message per client, with a
send timeout per message: ~0.5 s p50 behind at 100 clients and a chunk per millisecond). A
``: keep-alive`` comment line goes out when nothing came for a while (the hub's idle read).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse
from starlette.types import Send

from gateway.auth import auth_of, principal_of, require
from gateway.deps import get_jobs, get_services
from gateway.metrics import STREAM_CLIENTS
from gateway.streaming.events import check_event_id, job_event_batches
from orchestrator.auth import Permission
from orchestrator.jobs import Actor, JobService
from orchestrator.services import Services

router = APIRouter()


class EventStreamResponse(StreamingResponse):
    """A ``StreamingResponse`` of ``(frame, last)`` pairs whose last frame also ends the body.

    Starlette ends a streamed body with an empty message of its own: with chunked encoding,
    one more write of the chunk terminator after the terminal event, and one more read for the
    client before its request is over. Here the frame marked last goes with ``more_body=False``
    (uvicorn writes it and the terminator together); a stream that ends without one ends as
    Starlette's does.
    """

    body_iterator: AsyncIterator[tuple[bytes, bool]]  # type: ignore[assignment]

    def __init__(
        self,
        frames: AsyncIterator[tuple[bytes, bool]],
        *,
        headers: dict[str, str],
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(frames, media_type="text/event-stream", headers=headers,  # type: ignore[arg-type]
                         background=background)  # fmt: skip

    async def stream_response(self, send: Send) -> None:
        """Send the start, every frame, and the end of the body with the last frame."""
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        more = True
        # Run to the iterator's end (nothing follows a last frame: its end is its clean-up).
        async for frame, last in self.body_iterator:
            if more:
                more = not last
                await send({"type": "http.response.body", "body": frame, "more_body": more})
        if more:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

KEEP_ALIVE = b": keep-alive\n"
"""An SSE comment line: keeps proxies from closing an idle stream. No blank line follows it:
a blank line dispatches the message being built, and some clients (httpx-sse) then deliver an
empty message because the last event id is set, where the WHATWG algorithm delivers none."""


@router.get(
    "/v1/jobs/{job_id}/events",
    summary="Stream a job's events (SSE)",
    responses={
        200: {"content": {"text/event-stream": {}}},
        204: {"description": "The job ended and nothing follows Last-Event-ID"},
        404: {},
        422: {},
    },
)
async def stream_events(
    request: Request,
    job_id: str,
    services: Annotated[Services, Depends(get_services)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ, rate="stream",
                                            query_token=True))],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[str | None, Query(description="Same as Last-Event-ID.")] = None,
) -> Response:
    """Replay the job's events after ``Last-Event-ID`` (or from the start), then follow live."""
    start = check_event_id(last_event_id or after)
    row = await jobs.exists(job_id, actor)
    if start is not None:
        # EventSource reconnects whenever a stream closes; 204 is what tells it to stop.
        state = await services.state.get_job(row.id)
        ended = state is None or state.status.is_terminal
        if ended and not await services.state.read_events(row.id, after=start, count=1):
            return Response(status_code=204)

    return await event_stream(request, services, row.id, start, query_token=True)


async def event_stream(
    request: Request,
    services: Services,
    job_id: str,
    start: str | None = None,
    *,
    query_token: bool = False,
    headers: dict[str, str] | None = None,
    new_job: bool = False,
) -> EventStreamResponse:
    """The SSE response of a job's events after ``start`` (from the first when ``None``).

    ``new_job``: the request has just created the job (a submit answered with SSE): its events
    all come from the hub's feed, nothing is replayed (:func:`job_event_batches`).

    Takes one of the caller's concurrent-stream slots (tenant principals), released when the
    stream ends or the client goes.

    Raises:
        RateLimitedError: The caller has its maximum of open streams.
    """
    principal = await principal_of(request, query_token=query_token)
    slot = None if principal.all_tenants else await auth_of(request).limits.open_stream(principal)

    async def frames() -> AsyncIterator[tuple[bytes, bool]]:
        STREAM_CLIENTS.labels(transport="sse").inc()
        try:
            hub = request.app.state.hub
            async for batch, final in job_event_batches(services.state, job_id, start, hub,
                                                        new_job=new_job):
                if not batch:
                    yield KEEP_ALIVE, False
                elif len(batch) == 1:
                    yield batch[0].sse_frame(), final
                else:
                    yield b"".join(event.sse_frame() for event in batch), final
        finally:
            STREAM_CLIENTS.labels(transport="sse").dec()
            if slot is not None:
                slot.release_soon()  # the response ends without waiting for Redis

    return EventStreamResponse(
        frames(),
        # Also when the body never starts (a client gone at once); release is idempotent.
        background=BackgroundTask(slot.release) if slot is not None else None,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})},
    )


__all__ = ["event_stream", "router"]
