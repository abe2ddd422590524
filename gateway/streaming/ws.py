"""``WS /v1/jobs/{id}/ws``: the same events as SSE; the client may send ``{"type": "cancel"}`` and
``{"type": "input", "answer": ..., "step"?: ...}``.

Server → client: event objects (DESIGN §6), and control frames ``{"type": "cancel.accepted"}``,
``{"type": "input.accepted"}``
or ``{"type": "error", "error": {...}}``. The server closes with 1000 after the terminal event,
and with 4404 (after an error frame) when the job does not exist.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from gateway.auth import SocketRequirement, audit_refusal, auth_of, principal_of, should_audit
from gateway.deps import get_jobs, get_services
from gateway.errors import error_body, status_for
from gateway.metrics import STREAM_CLIENTS
from gateway.streaming.events import check_event_id, job_event_batches
from orchestrator.auth import Permission, Principal, StreamSlot
from orchestrator.errors import OrchestratorError, PayloadTooLargeError, RateLimitedError
from orchestrator.jobs import Actor, JobService
from orchestrator.serialization import dumps, loads
from orchestrator.services import Services

router = APIRouter()

CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400
CLOSE_POLICY = 1008  # RFC 6455 §7.4.1: a message broke a policy (here: the message rate)
CLOSE_TOO_BIG = 1009  # RFC 6455 §7.4.1: a message too big to process
CLOSE_BY_STATUS = {401: 4401, 403: 4403, 404: CLOSE_NOT_FOUND, 429: 4429}
"""Refusals before streaming: 4000 + the HTTP status the same refusal gets on SSE."""


@router.websocket("/v1/jobs/{job_id}/ws")
async def job_socket(
    websocket: WebSocket,
    job_id: str,
    services: Annotated[Services, Depends(get_services)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    access: Annotated[Actor | OrchestratorError, Depends(SocketRequirement(
        Permission.JOB_READ, rate="stream", query_token=True))],
    last_event_id: str | None = None,
) -> None:
    """Send the job's events (replayed, then live); accept ``cancel`` messages meanwhile."""
    await websocket.accept()
    slot: StreamSlot | None = None
    try:
        if isinstance(access, OrchestratorError):
            raise access
        actor = access
        start = check_event_id(last_event_id)
        row = await jobs.exists(job_id, actor)
        principal = await principal_of(websocket, query_token=True)
        if not principal.all_tenants:
            slot = await auth_of(websocket).limits.open_stream(principal)
    except OrchestratorError as exc:
        status = status_for(exc)
        if should_audit(websocket, exc, status):
            await audit_refusal(websocket, status=status, code=exc.code,
                                reason=exc.details.get("reason"))
        await websocket.send_text(dumps({"type": "error", **error_body(
            exc.code, exc.message, exc.details)}).decode())
        await websocket.close(code=CLOSE_BY_STATUS.get(status, CLOSE_BAD_REQUEST))
        return
    settings = auth_of(websocket).services.settings.auth
    connection_id = uuid.uuid4().hex

    async def send_events() -> None:
        # In batches: a client behind by k events costs one wake-up for the k, not k (a frame
        # per event still, as the protocol says; uvicorn writes each frame on its own).
        hub = websocket.app.state.hub
        async for batch, _ in job_event_batches(services.state, row.id, start, hub):
            for event in batch:
                await websocket.send_text(event.wire())

    async def receive_commands() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            refusal: OrchestratorError | None = None
            if len(text.encode()) > settings.ws_max_message_bytes:
                refusal = PayloadTooLargeError(
                    f"messages are limited to {settings.ws_max_message_bytes} bytes",
                    details={"max_bytes": settings.ws_max_message_bytes})
            elif not await auth_of(websocket).ws_message_allowed(connection_id):
                refusal = RateLimitedError(
                    f"at most {settings.ws_message_rate} messages per connection",
                    retry_after_seconds=1, details={"limit": settings.ws_message_rate})
            if refusal is not None:
                await websocket.send_text(dumps({"type": "error", **error_body(
                    refusal.code, refusal.message, refusal.details)}).decode())
                await websocket.close(code=CLOSE_TOO_BIG
                                      if isinstance(refusal, PayloadTooLargeError)
                                      else CLOSE_POLICY)  # fmt: skip
                return
            answer = await _command(jobs, row.id, text, actor, principal)
            await websocket.send_text(dumps(answer).decode())

    STREAM_CLIENTS.labels(transport="websocket").inc()
    sender = asyncio.ensure_future(send_events())
    receiver = asyncio.ensure_future(receive_commands())
    try:
        done, _ = await asyncio.wait([sender, receiver], return_when=asyncio.FIRST_COMPLETED)
        if sender in done and sender.exception() is None:
            await websocket.close(code=1000)
    except WebSocketDisconnect:
        pass
    finally:
        STREAM_CLIENTS.labels(transport="websocket").dec()
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)
        if slot is not None:
            await slot.release()


async def _command(
    jobs: JobService, job_id: str, text: str, actor: Actor, principal: Principal
) -> dict[str, Any]:
    try:
        message = loads(text)
    except ValueError:
        return {"type": "error", **error_body("json_invalid", "the message is not valid JSON")}
    kind = message.get("type") if isinstance(message, dict) else None
    needed = {"cancel": Permission.JOB_CANCEL, "input": Permission.JOB_INPUT}.get(str(kind))
    if needed is not None and not principal.can(needed):
        return {"type": "error", **error_body(
            "forbidden", f"role {principal.role.value!r} may not {needed.value}",
            {"permission": needed.value, "role": principal.role.value})}
    if kind == "cancel":
        try:
            status = await jobs.cancel(job_id, actor=actor)
        except OrchestratorError as exc:
            return {"type": "error", **error_body(exc.code, exc.message, exc.details)}
        return {"type": "cancel.accepted", "job_id": job_id, "status": status}
    if kind == "input":
        assert isinstance(message, dict)
        if "answer" not in message:
            return {"type": "error", **error_body("message_invalid", "an input needs an answer")}
        step = message.get("step")
        try:
            answered = await jobs.answer(
                job_id, message["answer"], actor=actor, step=step if isinstance(step, str) else None
            )
        except OrchestratorError as exc:
            return {"type": "error", **error_body(exc.code, exc.message, exc.details)}
        return {"type": "input.accepted", "job_id": job_id, "step": answered}
    return {
        "type": "error",
        **error_body(
            "message_invalid", f"unknown message type {kind!r}", {"allowed": ["cancel", "input"]}
        ),
    }


__all__ = ["router"]
