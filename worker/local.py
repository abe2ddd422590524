"""Running a workflow in this process, with no Redis, database or gateway: ``run_local``.

The job runs through the worker's own executor (:class:`~worker.executor.JobExecutor`, the same
binding, scheduling, ``parallel``, fan-out, retries with backoff, timeouts, streaming, caching
and ``ctx.ask``) on the in-memory state store
(:class:`~orchestrator.state.memory.MemoryStateStore`, held to the Redis store's contract
suite). Questions are answered from ``answers`` and validated against their schema as the
gateway does; the job then resumes as it would after ``POST /v1/jobs/{id}/input``.

``Workflow.run_local`` reaches this function through the ``agent_orchestrator.local_runner``
entry point, so that ``orchestrator`` need not import ``worker`` (DESIGN §1). The pytest plugin
``worker.testing`` offers it as the ``run_local`` fixture.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.dag.workflow import Workflow
from orchestrator.durable.memory import MemoryCallStore
from orchestrator.errors import QueueError
from orchestrator.events import Event
from orchestrator.jobs.control import check_answer
from orchestrator.keys import Keys
from orchestrator.serialization import dumps, loads
from orchestrator.services import Services
from orchestrator.state.memory import MemoryStateStore
from orchestrator.types import JobStatus, JSONValue, StepName
from worker.executor import JobExecutor
from worker.hooks import ExecutionHook

WORKER_ID = "local"
MAX_ROUNDS = 100
"""Most runs of one job (each answer or requeue starts one): a guard against a loop."""

Answers = Mapping[StepName, Any] | Callable[[StepName, str, Any], Any]
"""``{step: answer}`` (the answer to each of that step's questions; a callable value is called
with ``(prompt, index)``), or one callable ``(step, prompt, schema) -> answer``."""


class _NoQueue:
    """The queue of a local run: nothing is enqueued (one job, no other worker to hand it to)."""

    async def enqueue(self, *args: Any, **kwargs: Any) -> None:
        raise QueueError("a local run has no queue: the job was blocked or drained")


@dataclass
class LocalRun:
    """What a local run did.

    Attributes:
        job_id: The job's id.
        status: ``succeeded``, ``failed``, ``cancelled``, or ``waiting`` when a question had no
            answer in ``answers`` (see :attr:`questions`).
        result: ``{sink: output}`` when it succeeded.
        error: ``{"code", "message", "details"}`` when it failed.
        events: Every event, as a client of the gateway would have received them.
        outputs: Every checkpointed step output (fan-out instances as ``step[i]``).
        attempts: Attempts per step.
        questions: Open questions when waiting: ``{step: {"index", "prompt", "schema"}}``.
        answered: The answers given, in order: ``(step, index, answer)``.
    """

    job_id: str
    status: str
    result: JSONValue = None
    error: JSONValue = None
    events: list[Event] = field(default_factory=list)
    outputs: dict[StepName, JSONValue] = field(default_factory=dict)
    attempts: dict[StepName, int] = field(default_factory=dict)
    questions: dict[StepName, dict[str, JSONValue]] = field(default_factory=dict)
    answered: list[tuple[StepName, int, JSONValue]] = field(default_factory=list)

    @property
    def chunks(self) -> dict[StepName, list[JSONValue]]:
        """Streamed chunks per step, in order (across attempts)."""
        out: dict[StepName, list[JSONValue]] = {}
        for e in self.events:
            if e.type == "step.chunk" and e.step:
                out.setdefault(e.step, []).append(e.data)
        return out

    @property
    def event_types(self) -> list[str]:
        """The events' types, in order."""
        return [e.type for e in self.events]


def _answer_for(
    answers: Answers | None, step: StepName, question: Mapping[str, Any]
) -> tuple[bool, Any]:
    if answers is None:
        return False, None
    prompt, schema, index = (
        str(question.get("prompt", "")),
        question.get("schema"),
        int(question.get("index", 0)),
    )
    if callable(answers):
        return True, answers(step, prompt, schema)
    if step not in answers:
        return False, None
    value = answers[step]
    return True, value(prompt, index) if callable(value) else value


def local_services(
    workflow: Workflow, settings: Settings | None = None
) -> tuple[Services, MemoryStateStore]:
    """Services for one local run: the workflow, the in-memory state and call stores.

    No Redis client, queue or trace store is built, so nothing connects anywhere.
    """
    settings = settings or Settings()
    store = MemoryStateStore(
        events_maxlen=settings.state.events_maxlen, ttl_seconds=settings.state.ttl_seconds
    )
    services = Services(
        settings,
        WorkflowRegistry([workflow]),
        cast(Any, None),
        Keys(settings.state.key_prefix),
        cast(Any, store),
        cast(Any, _NoQueue()),
        cast(Any, None),
        cast(Any, MemoryCallStore()),
        cast(Any, None),  # tags: no policy store; ctx.tools/llm/policy are not attached here
    )
    return services, store


async def run_local(
    workflow: Workflow,
    inputs: Mapping[str, Any] | None = None,
    *,
    answers: Answers | None = None,
    settings: Settings | None = None,
    hooks: ExecutionHook | None = None,
) -> LocalRun:
    """Run ``workflow`` to its end in this process, on in-memory state (no Redis, no database).

    Args:
        workflow: The workflow (as ``workflow(...)`` returned it).
        inputs: Its inputs by name; validated as a submit validates them.
        answers: Answers to ``ctx.ask`` questions (see :data:`Answers`); a question without one
            stops the run in ``waiting``.
        settings: Settings (retry caps, output limits, ...); ``Settings()`` by default.
        hooks: Execution hooks to observe the run (e.g. the agent layer's).

    Returns:
        The :class:`LocalRun`: status, result or error, events, outputs, attempts.

    Raises:
        InputValidationError: ``inputs_invalid``: a missing or ill-typed input.
        AnswerValidationError: ``answer_invalid``: an answer that does not match its schema.
    """
    clean = workflow.validate_inputs(inputs)
    services, store = local_services(workflow, settings)
    executor = JobExecutor(services, WORKER_ID, hooks or ExecutionHook())
    job_id = str(uuid.uuid4())
    await store.create_job(
        job_id,
        workflow=workflow.name,
        version=workflow.version,
        inputs=clean,
        created_at=time.time(),
        arq_job_id=job_id,
        extra={"tenant": "local", "user": "local", "role": "admin"},
    )
    answered: list[tuple[StepName, int, JSONValue]] = []
    for _ in range(MAX_ROUNDS):
        status = await executor.run(job_id)
        await executor.endings.settle(5.0)
        if status is not JobStatus.WAITING:
            if status is JobStatus.QUEUED:
                continue
            break
        state = await store.get_job(job_id)
        assert state is not None
        pending = False
        for step, question in sorted(state.questions.items()):
            known, answer = _answer_for(answers, step, question)
            if not known:
                pending = True
                continue
            check_answer(answer, cast(dict[str, Any], question.get("schema") or {}))
            index = int(cast(int, question["index"]))
            await store.answer(
                job_id, step, index, dumps(answer), {"reason": "input", "step": step}
            )
            answered.append((step, index, answer))
        if pending:
            break
    return await _outcome(store, job_id, answered)


async def _outcome(
    store: MemoryStateStore, job_id: str, answered: list[tuple[StepName, int, JSONValue]]
) -> LocalRun:
    state = await store.get_job(job_id)
    assert state is not None
    steps = list(state.steps)
    outputs = {s: loads(raw) for s, raw in (await store.load_checkpoints(job_id, steps)).items()}
    return LocalRun(
        job_id=job_id,
        status=state.status.value,
        result=state.result,
        error=state.error,
        events=await store.read_events(job_id, count=10**9),
        outputs=outputs,
        attempts={s: st.attempt for s, st in state.steps.items()},
        questions=dict(state.questions),
        answered=answered,
    )


__all__ = ["Answers", "LocalRun", "local_services", "run_local"]
