"""``/v1/sessions``: conversations that stream, ask and resume (DESIGN §18, §20).

``POST /v1/sessions`` opens one; ``POST /v1/sessions/{id}/interact`` sends a message (a task
starts, or the session's ``on_busy`` applies) or answers the open question; ``GET
/v1/sessions/{id}/events`` (SSE) and ``WS /v1/sessions/{id}/ws`` stream every event of its tasks
in one id space, resumable with ``Last-Event-ID`` (``last_event_id`` on the WebSocket). The
WebSocket also takes ``{"type": "interact", "message" | "answer"}`` and ``{"type": "cancel"}``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask
from starlette.requests import HTTPConnection

from gateway.auth import SocketRequirement, auth_of, principal_of, require
from gateway.errors import error_body, status_for
from gateway.streaming.sessions import parse_session_event_id, session_events
from gateway.streaming.ws import CLOSE_BAD_REQUEST, CLOSE_BY_STATUS, CLOSE_POLICY, CLOSE_TOO_BIG
from orchestrator.auth import Permission, StreamSlot
from orchestrator.errors import OrchestratorError
from orchestrator.jobs import Actor
from orchestrator.serialization import dumps, loads
from orchestrator.sessions import SessionHistory, SessionService, SessionStore
from orchestrator.storable import find_unstorable, text_problem

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


def get_sessions(conn: HTTPConnection) -> SessionService:
    """The process's :class:`SessionService` (built on first use from the lifespan's services)."""
    service: SessionService | None = getattr(conn.app.state, "sessions", None)
    if service is None:
        jobs = conn.app.state.jobs
        settings = jobs.services.settings
        store = SessionStore(jobs.services.redis, jobs.services.keys,
                             ttl_seconds=settings.sessions.ttl_seconds)  # fmt: skip
        service = SessionService(jobs, store, SessionHistory(jobs.services.trace.engine),
                                 workflow=settings.sessions.workflow)  # fmt: skip
        conn.app.state.sessions = service
    return service


Sessions = Annotated[SessionService, Depends(get_sessions)]


def _storable(value: str) -> str:
    """Text kept in PostgreSQL: no NUL, no lone surrogate."""
    if text_problem(value) is not None:
        raise ValueError("must not contain a NUL character or a lone UTF-16 surrogate")
    return value


class CreateSession(BaseModel):
    """``POST /v1/sessions``."""

    model_config = ConfigDict(extra="forbid")

    intent: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    on_busy: Literal["reject", "enqueue", "interrupt"] = Field(
        default="reject", description="What a message does while a task runs."
    )

    @field_validator("intent")
    @classmethod
    def _intent(cls, value: str | None) -> str | None:
        return None if value is None else _storable(value)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = find_unstorable(value)
        if problems:  # PostgreSQL keeps it: no NUL, no lone surrogate, no NaN
            raise ValueError(f"cannot be stored: {problems[0].as_error()['message']}")
        return value


class Interact(BaseModel):
    """``POST /v1/sessions/{id}/interact``: exactly one of ``message`` and ``answer``."""

    model_config = ConfigDict(extra="forbid")

    message: str | None = Field(default=None, min_length=1, max_length=100_000)
    answer: Any = Field(default=None, description="The answer to the open question.")

    @field_validator("message")
    @classmethod
    def _message(cls, value: str | None) -> str | None:
        return None if value is None else _storable(value)

    @model_validator(mode="after")
    def _one(self) -> Interact:
        if ("answer" in self.model_fields_set) == (self.message is not None):
            raise ValueError("give exactly one of message and answer")
        return self


@router.post("", status_code=201)
async def create_session(
    body: CreateSession,
    sessions: Sessions,
    actor: Annotated[Actor, Depends(require(Permission.JOB_SUBMIT, rate="submit"))],
) -> dict[str, Any]:
    """Open a session owned by the caller; 201 with its id and status (``idle``)."""
    view = await sessions.create(actor, intent=body.intent, metadata=body.metadata,
                                 on_busy=body.on_busy)  # fmt: skip
    return view.to_dict()


@router.get("/{session_id}")
async def get_session(
    session_id: str,
    sessions: Sessions,
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
) -> dict[str, Any]:
    """Status (idle/busy/waiting/error), tasks (status, reply), queued messages, open question."""
    return (await sessions.view(actor, session_id)).to_dict()


@router.get("/{session_id}/messages")
async def session_messages(
    session_id: str,
    sessions: Sessions,
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ))],
) -> dict[str, Any]:
    """The session's history from PostgreSQL: user messages and task replies, in order."""
    await sessions.advance(actor, session_id)  # records the replies of ended tasks
    return {"items": await sessions.history.messages(session_id)}


@router.post("/{session_id}/interact", status_code=202)
async def interact(
    session_id: str,
    body: Interact,
    sessions: Sessions,
    actor: Annotated[Actor, Depends(require(Permission.JOB_SUBMIT, rate="submit"))],
) -> dict[str, Any]:
    """A message (starts a task, or follows ``on_busy``: 409 ``session_busy`` for reject) or an
    answer (409 ``no_open_question`` when none is open; 422 when it fails the schema)."""
    if body.message is not None:
        return await sessions.message(actor, session_id, body.message)
    return await sessions.answer(actor, session_id, body.answer)


@router.post("/{session_id}/cancel", status_code=202)
async def cancel_session_task(
    session_id: str,
    sessions: Sessions,
    actor: Annotated[Actor, Depends(require(Permission.JOB_CANCEL))],
) -> dict[str, Any]:
    """Cancel the running task and drop queued messages."""
    return await sessions.cancel(actor, session_id)


@router.get("/{session_id}/events", responses={200: {"content": {"text/event-stream": {}}}})
async def session_event_stream(
    request: Request,
    session_id: str,
    sessions: Sessions,
    actor: Annotated[Actor, Depends(require(Permission.JOB_READ, rate="stream", query_token=True))],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[str | None, Query(description="Same as Last-Event-ID.")] = None,
) -> EventSourceResponse:
    """Every event of the session's tasks (replayed, then live), ids ``<task>.<event id>``."""
    start = last_event_id or after
    parse_session_event_id(start)
    await sessions.get(actor, session_id)
    # one of the caller's concurrent-stream slots, as a job's stream takes
    principal = await principal_of(request, query_token=True)
    slot = None if principal.all_tenants else await auth_of(request).limits.open_stream(principal)

    async def messages() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event_id, data in session_events(sessions, actor, session_id, start,
                                                       request.app.state.hub):  # fmt: skip
                yield ServerSentEvent(data=data, id=event_id)
        finally:
            if slot is not None:
                await slot.release()

    return EventSourceResponse(
        messages(), ping=15,
        background=BackgroundTask(slot.release) if slot is not None else None,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )  # fmt: skip


@router.websocket("/{session_id}/ws")
async def session_socket(
    websocket: WebSocket,
    session_id: str,
    sessions: Sessions,
    access: Annotated[
        Actor | OrchestratorError,
        Depends(SocketRequirement(Permission.JOB_READ, rate="stream", query_token=True)),
    ],
    last_event_id: str | None = None,
) -> None:
    """The session's events, and ``interact`` / ``cancel`` messages from the client."""
    await websocket.accept()
    slot: StreamSlot | None = None
    try:
        if isinstance(access, OrchestratorError):
            raise access
        actor = access
        parse_session_event_id(last_event_id)
        await sessions.get(actor, session_id)
        principal = await principal_of(websocket, query_token=True)
        if not principal.all_tenants:
            slot = await auth_of(websocket).limits.open_stream(principal)
    except OrchestratorError as exc:
        await websocket.send_text(dumps({"type": "error", **error_body(
            exc.code, exc.message, exc.details)}).decode())  # fmt: skip
        await websocket.close(code=CLOSE_BY_STATUS.get(status_for(exc), CLOSE_BAD_REQUEST))
        return

    async def send_events() -> None:
        async for _, data in session_events(sessions, actor, session_id, last_event_id,
                                            websocket.app.state.hub):  # fmt: skip
            await websocket.send_text(data)

    auth = auth_of(websocket)
    max_bytes = auth.services.settings.auth.ws_max_message_bytes
    rate = auth.services.settings.auth.ws_message_rate
    connection_id = uuid.uuid4().hex

    async def receive_commands() -> None:
        while True:
            text = await websocket.receive_text()
            if len(text.encode()) > max_bytes:
                await websocket.send_text(dumps({"type": "error", **error_body(
                    "payload_too_large", f"messages are limited to {max_bytes} bytes",
                    {"max_bytes": max_bytes})}).decode())  # fmt: skip
                await websocket.close(code=CLOSE_TOO_BIG)
                return
            if not await auth.ws_message_allowed(connection_id):  # as on a job's WebSocket
                await websocket.send_text(dumps({"type": "error", **error_body(
                    "rate_limited", f"at most {rate} messages per connection",
                    {"limit": rate, "retry_after_seconds": 1})}).decode())  # fmt: skip
                await websocket.close(code=CLOSE_POLICY)
                return
            await websocket.send_text(dumps(await _command(sessions, actor, session_id,
                                                           text)).decode())  # fmt: skip

    sender = asyncio.ensure_future(send_events())
    receiver = asyncio.ensure_future(receive_commands())
    try:
        await asyncio.wait([sender, receiver], return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
        if slot is not None:
            await slot.release()


async def _command(
    sessions: SessionService, actor: Actor, session_id: str, text: str
) -> dict[str, Any]:
    try:
        message = loads(text)
    except ValueError:
        return {"type": "error", **error_body("json_invalid", "the message is not valid JSON")}
    kind = message.get("type") if isinstance(message, dict) else None
    try:
        if kind == "interact" and isinstance(message, dict):
            body = Interact.model_validate({k: v for k, v in message.items() if k != "type"})
            if body.message is not None:
                result = await sessions.message(actor, session_id, body.message)
            else:
                result = await sessions.answer(actor, session_id, body.answer)
            return {"type": "interact.accepted", **result}
        if kind == "cancel":
            return {"type": "cancel.accepted", **await sessions.cancel(actor, session_id)}
    except OrchestratorError as exc:
        return {"type": "error", **error_body(exc.code, exc.message, exc.details)}
    except ValueError as exc:  # pydantic's ValidationError
        return {"type": "error", **error_body("message_invalid", str(exc)[:500])}
    return {"type": "error", **error_body("message_invalid", f"unknown message type {kind!r}",
                                          {"allowed": ["interact", "cancel"]})}  # fmt: skip


__all__ = ["get_sessions", "router"]
