"""What a run page shows, read once: the job, its DAG, waterfall, output previews, questions.

Bounded whatever the run's size: fan-out instances are collapsed into their step's box, the
waterfall draws at most :data:`WATERFALL_MAX_BARS` attempts, a streaming step's live output is
read from at most :data:`TAIL_EVENTS` recent events and every preview is cut at
``ui.output_preview_bytes``. The rest is one click away (chunk pages, the full output route).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.ui.forms import FormField, fields_for
from gateway.ui.layout import Layout, layout, node_id, split_instance
from orchestrator.errors import WorkflowNotFoundError
from orchestrator.events import Event
from orchestrator.jobs import Actor, JobService, JobView
from orchestrator.serialization import loads

WATERFALL_MAX_BARS = 200
TAIL_EVENTS = 2000


@dataclass(slots=True)
class Bar:
    """One attempt of the waterfall, as percentages of the job's span."""

    step: str
    attempt: int
    status: str
    left_pct: float
    width_pct: float
    label: str
    error_code: str | None = None
    cache_hit: bool = False


@dataclass(slots=True)
class Preview:
    """A step's output as shown on the page."""

    step: str
    dom_id: str
    text: str
    truncated: bool
    live: bool
    streams: bool


@dataclass(slots=True)
class RunView:
    """Everything the run page renders."""

    job: JobView
    graph: Layout
    bars: list[Bar] = field(default_factory=list)
    hidden_bars: int = 0
    span_ms: float = 0.0
    queue_wait_ms: float | None = None
    previews: list[Preview] = field(default_factory=list)
    questions: list[tuple[dict[str, Any], list[FormField]]] = field(default_factory=list)
    cursor: str | None = None
    trace_id: str | None = None
    trace_url: str | None = None
    usage: Any = None
    cache_hits: int = 0
    description: dict[str, Any] = field(default_factory=dict)

    def preview_of(self, step: str) -> Preview | None:
        """The output preview of ``step``, if it has one."""
        return next((p for p in self.previews if p.step == step), None)

    @property
    def asked(self) -> str:
        """The open questions shown, ``step:index,…`` (the live stream leaves their forms be)."""
        return ",".join(f"{q['step']}:{q.get('index')}" for q, _ in self.questions)

    @property
    def live(self) -> bool:
        """Whether the page follows the job's stream."""
        return self.job.status not in ("succeeded", "failed", "cancelled")


def text_of(value: Any) -> str:
    """An output as text: strings as they are, anything else as indented JSON."""
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def cap(text: str, max_bytes: int) -> tuple[str, bool]:
    """``text`` cut to ``max_bytes`` of UTF-8, and whether it was cut."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text, False
    return raw[:max_bytes].decode(errors="ignore"), True


def _ms(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds() * 1000


@dataclass(slots=True)
class _Row:
    step: str
    attempt: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: float | None
    error: Any = None
    cache_hit: bool = False
    label: str = ""


def _waterfall_rows(runs: list[Any]) -> list[_Row]:
    """One row per attempt, except fan-out instances: one row per step spanning all of them
    (first start to last end), labelled with their count and statuses."""
    rows: list[_Row] = []
    groups: dict[str, tuple[_Row, Counter[str]]] = {}
    for r in runs:
        step, index = split_instance(r.step)
        if index is None:
            rows.append(
                _Row(
                    r.step,
                    r.attempt,
                    r.status.value,
                    r.started_at,
                    r.finished_at,
                    r.duration_ms,
                    r.error,
                    bool(getattr(r, "cache_hit", False)),
                )
            )
            continue
        if step not in groups:
            group = _Row(step, 1, r.status.value, r.started_at, r.finished_at, None)
            groups[step] = (group, Counter())
            rows.append(group)
        group, counts = groups[step]
        counts[r.status.value] += 1
        group.attempt = max(group.attempt, r.attempt)
        if r.started_at and (group.started_at is None or r.started_at < group.started_at):
            group.started_at = r.started_at
        if r.finished_at and (group.finished_at is None or r.finished_at > group.finished_at):
            group.finished_at = r.finished_at
    for group, counts in groups.values():
        group.status = next(
            (s for s in ("failed", "running", "waiting") if counts.get(s)),
            "succeeded" if set(counts) == {"succeeded"} else "pending",
        )
        detail = ", ".join(f"{n} {s}" for s, n in counts.most_common())
        group.label = f"{group.step} x{sum(counts.values())} instances ({detail})"
    return rows  # fmt: skip


def finished_preview(step: str, checkpoint: bytes, streams: bool, max_bytes: int) -> Preview:
    """The preview of a finished step: its checkpointed output, cut at ``max_bytes``."""
    text, cut = cap(text_of(loads(checkpoint)), max_bytes)
    return Preview(step, node_id(step), text, cut, False, streams)


async def last_event_id(jobs: JobService, job_id: str) -> str | None:
    """The id of the job's newest event (where the page's live stream starts), if any."""
    services = jobs.services
    raw = await services.redis.xrevrange(services.keys.events(job_id), count=1)
    if not raw:
        return None
    entry_id = raw[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def tail_events(jobs: JobService, job_id: str, upto: str) -> list[Event]:
    """The job's latest :data:`TAIL_EVENTS` events up to ``upto`` (inclusive), oldest first:
    the text a running stream has produced so far; later events reach the page live."""
    services = jobs.services
    raw = await services.redis.xrevrange(services.keys.events(job_id), max=upto,
                                         count=TAIL_EVENTS)  # fmt: skip
    return [Event.from_stream(job_id, entry_id, fields) for entry_id, fields in reversed(raw)]


async def read_trace(jobs: JobService, rv: RunView) -> None:
    """Fill ``rv``'s waterfall, trace id and link, and cache hits from the trace store
    (``GET /v1/jobs/{id}/trace``'s data; its rows trail the live state by a group commit)."""
    services = jobs.services
    row = await services.trace.get_job(rv.job.job_id)
    template = services.settings.telemetry.trace_url_template
    if row is not None:
        rv.trace_id = row.trace_id
        rv.trace_url = template.format(trace_id=row.trace_id) if template and row.trace_id else None
        runs = await services.trace.list_step_runs(row.id)
        rv.cache_hits = sum(1 for r in runs if getattr(r, "cache_hit", False))
        rv.queue_wait_ms = _ms(row.started_at, row.created_at)
        ends = [r.finished_at or r.started_at for r in runs if r.started_at]
        end = rv.job.finished_at or (max(ends) if ends else None)
        rv.span_ms = max(_ms(end, row.created_at) or 0.0, 1.0)
        rows = _waterfall_rows(runs)
        for r in rows[:WATERFALL_MAX_BARS]:
            begin = _ms(r.started_at, row.created_at) or 0.0
            length = (
                r.duration_ms
                if r.duration_ms is not None
                else (_ms(r.finished_at, r.started_at) or (rv.span_ms - begin))
            )
            code = (r.error or {}).get("code") if isinstance(r.error, dict) else None
            label = r.label or f"{r.step} #{r.attempt}" + (f" ({code})" if code else "")
            rv.bars.append(Bar(
                step=r.step, attempt=r.attempt, status=r.status,
                left_pct=min(100.0, 100 * begin / rv.span_ms),
                width_pct=max(0.5, min(100.0, 100 * length / rv.span_ms)),
                label=label, error_code=code, cache_hit=r.cache_hit,
            ))  # fmt: skip
        rv.hidden_bars = max(0, len(rows) - WATERFALL_MAX_BARS)


async def build(jobs: JobService, job_id: str, actor: Actor) -> RunView:
    """Read a run for its page.

    Raises:
        JobNotFoundError: No such job, or one ``actor`` may not see (404 either way).
    """
    services = jobs.services
    max_bytes = services.settings.ui.output_preview_bytes
    await jobs.exists(job_id, actor)
    # The cursor first: anything after it reaches the page through the live stream.
    cursor = await last_event_id(jobs, job_id)
    view = await jobs.get(job_id, actor)
    try:
        description = services.registry.get(view.workflow).describe()
    except WorkflowNotFoundError:
        description = {"nodes": [], "edges": []}
    live = await services.state.get_job(job_id)
    statuses = {s["name"]: s["status"] for s in view.steps}
    if live is not None:
        statuses.update({n: st.status for n, st in live.steps.items()})
    attempts = {s["name"]: s["attempts"] for s in view.steps}
    rv = RunView(job=view, graph=layout(description, statuses, attempts), cursor=cursor,
                 description=description)  # fmt: skip
    rv.usage = getattr(view, "usage", None)  # the LLM layer's tokens and cost, when present

    await read_trace(jobs, rv)

    names = [n.name for n in rv.graph.nodes if not n.fanout]
    done = await services.state.load_checkpoints(job_id, names) if names else {}
    streaming = any(n.options.get("streams") and n.name not in done for n in rv.graph.nodes)
    events = await tail_events(jobs, job_id, cursor) if streaming and cursor else []
    chunks: dict[str, list[str]] = {}
    for e in events:
        if e.type == "step.chunk" and e.step and split_instance(e.step)[1] is None:
            chunks.setdefault(e.step, []).append(text_of(e.data))
    for n in rv.graph.nodes:
        if n.fanout:
            continue
        streams = bool(n.options.get("streams"))
        if n.name in done:
            rv.previews.append(finished_preview(n.name, done[n.name], streams, max_bytes))
        elif streams:
            text, cut = cap("".join(chunks.get(n.name, [])), max_bytes)
            rv.previews.append(Preview(n.name, n.dom_id, text, cut, True, streams))
    rv.questions = [(q, fields_for(q.get("schema"))) for q in view.questions]
    return rv


__all__ = [
    "Bar",
    "Preview",
    "RunView",
    "build",
    "cap",
    "last_event_id",
    "node_id",
    "tail_events",
    "text_of",
]
