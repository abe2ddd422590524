"""``WS /v1/jobs/{id}/ws``: the same events as SSE; the client may send ``{"type": "cancel"}`` and
``{"type": "input", "answer": ..., "step"?: ...}``.

Server → client: event objects (DESIGN §6), and control frames ``{"type": "cancel.accepted"}``,
``{"type": "input.accepted"}``
or ``{"type": "error", "error": {...}}``. The server closes with 1000 after the terminal event,
and with 4404 (after an error frame) when the job does not exist.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from gateway.deps import get_jobs, get_services
from gateway.errors import error_body
from gateway.metrics import STREAM_CLIENTS
from gateway.streaming.events import check_event_id, job_events
from orchestrator.errors import OrchestratorError
from orchestrator.jobs import Actor, JobService
from orchestrator.serialization import dumps, loads
from orchestrator.services import Services

router = APIRouter()

CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400


@router.websocket("/v1/jobs/{job_id}/ws")
async def job_socket(
    websocket: WebSocket,
    job_id: str,
    services: Annotated[Services, Depends(get_services)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    last_event_id: str | None = None,
) -> None:
    """Send the job's events (replayed, then live); accept ``cancel`` messages meanwhile."""
    await websocket.accept()
    try:
        start = check_event_id(last_event_id)
        row = await jobs.exists(job_id)
    except OrchestratorError as exc:
        await websocket.send_text(dumps({"type": "error", **error_body(
            exc.code, exc.message, exc.details)}).decode())
        code = CLOSE_NOT_FOUND if exc.code == "job_not_found" else CLOSE_BAD_REQUEST
        await websocket.close(code=code)
        return
    actor = Actor(client_ip=websocket.client.host if websocket.client else None)

    async def send_events() -> None:
        async for event in job_events(services.state, row.id, start):
            await websocket.send_text(dumps(event.to_dict()).decode())

    async def receive_commands() -> None:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(dumps(await _command(jobs, row.id, text, actor)).decode())

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


async def _command(jobs: JobService, job_id: str, text: str, actor: Actor) -> dict[str, Any]:
    try:
        message = loads(text)
    except ValueError:
        return {"type": "error", **error_body("json_invalid", "the message is not valid JSON")}
    kind = message.get("type") if isinstance(message, dict) else None
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
