"""``GET /ui/runs/{id}/stream``: a job's events as out-of-band HTML fragments (SSE, htmx).

The run page connects with htmx's SSE extension; every message (event name ``update``) is a
batch of elements carrying ``hx-swap-oob``: DAG boxes replaced (by DOM id, with their new
``data-status``), streamed text appended to the step's ``<pre>``, the header, actions and
questions re-rendered when the job's own status changes. Events are gathered for
:data:`BATCH_SECONDS` before a message is sent, so 100,000 token chunks become at most 20
messages a second, and each step's appended text stops at ``ui.output_preview_bytes`` (the page
then links to the chunk pages and the full output). Cookie-authenticated, so ``Origin`` is
checked (DESIGN §20).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from gateway.deps import get_jobs
from gateway.streaming.events import check_event_id, job_events
from gateway.ui.deps import User, need
from gateway.ui.layout import Layout, layout, split_instance
from gateway.ui.render import environment, fragment
from gateway.ui.runview import RunView, build, finished_preview, read_trace, text_of
from gateway.ui.session import UiUser, check_origin
from orchestrator.auth import Permission
from orchestrator.errors import WorkflowNotFoundError
from orchestrator.events import Event
from orchestrator.jobs import JobService

router = APIRouter(include_in_schema=False)

BATCH_SECONDS = 0.05
WATERFALL_EVERY_SECONDS = 1.0
STATUS_OF_EVENT = {
    "step.started": "running",
    "step.succeeded": "succeeded",
    "step.failed": "failed",
    "step.retrying": "retrying",
    "step.waiting": "waiting",
    "step.skipped": "skipped",
    "step.cancelled": "cancelled",
}


class _Batcher:
    """Turns events into one message of fragments per batch."""

    def __init__(self, jobs: JobService, job_id: str, user: UiUser, statuses: dict[str, str],
                 description: dict[str, object], asked: set[tuple[str, str]]) -> None:  # fmt: skip
        self.jobs = jobs
        self.asked = asked  # the open questions the page shows: {(step, index)}
        self.job_id = job_id
        self.user = user
        self.statuses = statuses
        self.description = description
        self.sent_bytes: dict[str, int] = {}
        self.max_bytes = jobs.services.settings.ui.output_preview_bytes
        self.waterfall_at = 0.0
        nodes = cast(list[dict[str, Any]], description.get("nodes", []))
        self.outputs = {  # steps with an output panel: {step: streams}
            n["name"]: bool(n.get("streams")) for n in nodes if not n.get("map_over")
        }

    @staticmethod
    def macros() -> Any:
        """The run page's panel macros (``_run.html``)."""
        return environment().get_template("_run.html").module

    async def render(self, events: list[Event]) -> str:
        changed: set[str] = set()
        text: dict[str, list[str]] = {}
        job_changed = False
        for e in events:
            if e.type == "step.chunk" and e.step:
                text.setdefault(e.step, []).append(text_of(e.data))
            elif e.type in STATUS_OF_EVENT and e.step:
                self.statuses[e.step] = STATUS_OF_EVENT[e.type]
                changed.add(split_instance(e.step)[0])
                job_changed = job_changed or e.type in ("step.waiting",)
            elif e.type.startswith("job."):
                job_changed = True
        parts: list[str] = []
        ended = any(e.type in ("step.succeeded", "step.failed", "step.retrying") for e in events)
        now = time.monotonic()
        if ended and not job_changed and now - self.waterfall_at >= WATERFALL_EVERY_SECONDS:
            # Attempts reach the trace store in batches: redraw the waterfall, at most 1/s.
            self.waterfall_at = now
            view = await self.jobs.get(self.job_id, self.user.actor)
            rv = RunView(job=view, graph=Layout([], [], 0, 0))
            await read_trace(self.jobs, rv)
            parts.append(str(self.macros().waterfall(rv, True)))
        if job_changed:
            rv = await build(self.jobs, self.job_id, self.user.actor)
            self.statuses.update({n.name: n.status for n in rv.graph.nodes if not n.fanout})
            # The question forms only when the open questions changed: a form re-rendered
            # under the user's typing would lose what was typed.
            asked = {(str(q.get("step")), str(q.get("index"))) for q in rv.job.questions}
            renew = asked != self.asked
            self.asked = asked
            csrf = self.user.session.csrf
            parts.append(str(self.macros().live_panels(rv, self.user, csrf, renew)))
            changed = {n.name for n in rv.graph.nodes}
        graph = layout(self.description, self.statuses)
        for node in graph.nodes:
            if node.name in changed:
                parts.append(fragment("_dag.html", "node", node, True))
        finished = [
            e.step
            for e in events
            if e.type == "step.succeeded"
            and e.step
            and split_instance(e.step)[1] is None
            and e.step in self.outputs
        ]
        for step in finished:
            text.pop(step, None)  # the checkpoint replaces the streamed text
        for step, pieces in text.items():
            sent = self.sent_bytes.get(step, 0)
            if sent >= self.max_bytes:
                continue
            chunk = "".join(pieces)
            room = self.max_bytes - sent
            data = chunk.encode()
            cut = len(data) > room
            chunk = data[:room].decode(errors="ignore") if cut else chunk
            self.sent_bytes[step] = sent + len(chunk.encode())
            parts.append(fragment("_dag.html", "append_output", step, chunk, cut, self.job_id))
        if finished:
            found = await self.jobs.services.state.load_checkpoints(self.job_id, finished)
            for step in finished:
                if step in found:
                    p = finished_preview(step, found[step], self.outputs[step], self.max_bytes)
                    parts.append(str(self.macros().preview(self.job_id, p, True)))
        return "".join(parts)


@router.get("/ui/runs/{job_id}/stream")
async def run_stream(
    request: Request,
    job_id: Annotated[str, Path(max_length=64)],
    jobs: Annotated[JobService, Depends(get_jobs)],
    user: User,
    after: Annotated[str | None, Query(max_length=40)] = None,
    asked: Annotated[
        str | None, Query(max_length=4000, description="The page's open questions: step:index,…")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """Follow the job after ``after`` (the page's last event) as HTML fragments; ``asked``
    names the questions whose forms the page already shows (they are not re-rendered).

    Answers 204 when the job has ended and nothing follows ``after`` (or no ``after`` is given:
    a finished run's page shows everything), which stops ``EventSource`` reconnecting.
    """
    check_origin(request)
    need(user, Permission.JOB_READ)
    start = check_event_id(last_event_id or after)
    row = await jobs.exists(job_id, user.actor)
    services = jobs.services
    state = await services.state.get_job(row.id)
    if (state is None or state.status.is_terminal) and (
        start is None or not await services.state.read_events(row.id, after=start, count=1)
    ):
        return Response(status_code=204)  # a finished run's page has it all; nothing to follow
    try:
        description = services.registry.get(row.workflow).describe()
    except WorkflowNotFoundError:  # an unregistered workflow is drawn from its live steps
        description = {"nodes": [], "edges": []}
    statuses = {n: st.status for n, st in (state.steps.items() if state else [])}
    pairs = (item.rpartition(":") for item in (asked or "").split(","))
    shown = {(step, index) for step, _, index in pairs if step}
    batcher = _Batcher(jobs, row.id, user, statuses, description, shown)
    hub = request.app.state.hub

    async def messages() -> AsyncIterator[ServerSentEvent]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for event in job_events(services.state, row.id, start, hub):
                    await queue.put(event)
            finally:
                await queue.put(None)

        task = asyncio.get_running_loop().create_task(pump())
        try:
            ended = False
            while not ended:
                first = await queue.get()
                if first is None:
                    break
                batch = [first]
                deadline = time.monotonic() + BATCH_SECONDS
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        item = await asyncio.wait_for(queue.get(), left)
                    except TimeoutError:
                        break
                    if item is None:
                        ended = True
                        break
                    batch.append(item)
                html = await batcher.render(batch)
                if html:
                    yield ServerSentEvent(data=html, event="update", id=batch[-1].id)
            yield ServerSentEvent(data="end", event="end")  # sse-close: no reconnect
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    return EventSourceResponse(
        messages(), ping=15, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


__all__ = ["router"]
