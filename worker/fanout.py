"""Dynamic fan-out: a ``map_over`` step runs one instance per element of a list.

Instances are named ``step[0]``, ``step[1]``, … and each is checkpointed on its own, so a resumed
job runs only the instances without a checkpoint. When all have succeeded, the step's own
checkpoint is the list of their outputs in order; that is what downstream steps receive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from orchestrator.dag.binding import StepBinding
from orchestrator.errors import StepError
from orchestrator.serialization import dumps, loads
from orchestrator.state.base import NewEvent
from orchestrator.state.codec import step_field
from orchestrator.state.records import JobState
from orchestrator.types import StepName, StepStatus
from worker.hooks import AttemptRecord
from worker.step_runner import StepOutcome, StepRunner, instance_name


def _elements(runner: StepRunner, binding: StepBinding, outputs: Mapping[StepName, Any]) -> Any:
    param = binding.step.map_over
    assert param is not None
    upstream = binding.upstream_params.get(param)
    if upstream is not None:
        return outputs[upstream]
    return runner.inputs.get(param, [])


async def run_mapped(
    runner: StepRunner,
    binding: StepBinding,
    outputs: Mapping[StepName, Any],
    state: JobState,
    sizes: dict[StepName, int],
) -> StepOutcome:
    """Run every instance of a ``map_over`` step, at most ``max_concurrency`` at once.

    Returns:
        The step's outcome: the list of outputs, the first instance failure (the others are
        cancelled), or the first question asked (after the other instances finished).

    Raises:
        LeaseLostError, asyncio.CancelledError: As :meth:`StepRunner.run_step`.
    """
    step = binding.step
    name = step.name
    items = _elements(runner, binding, outputs)
    started = time.time()
    if not isinstance(items, list):
        error = StepError(
            f"step {name!r} maps over {step.map_over!r}, which is a "
            f"{type(items).__name__}, not a list",
            details={"step": name, "parameter": step.map_over, "type": type(items).__name__},
        ).to_dict()
        error["code"] = "map_over_not_a_list"
        runner.publisher.put(
            {step_field(name, "status"): StepStatus.FAILED.value,
             step_field(name, "error"): dumps(error).decode()},
            NewEvent("step.failed", name, 1, {"error": error}),
        )
        await runner.hooks.on_step_end(
            runner.run, AttemptRecord(name, 1, StepStatus.FAILED.value, started, time.time(),
                                      0.0, error))
        return StepOutcome(name, False, error=error)

    runner.publisher.put(
        {step_field(name, "status"): StepStatus.RUNNING.value,
         step_field(name, "attempt"): 1,
         step_field(name, "started_at"): repr(started)},
        NewEvent("step.started", name, 1, {"instances": len(items)}),
    )
    names = [instance_name(name, i) for i in range(len(items))]
    done = await runner.store.load_checkpoints(runner.run.job_id, names)
    results: list[Any] = [None] * len(items)
    for i, n in enumerate(names):
        if n in done:
            results[i] = loads(done[n])
    limit = asyncio.Semaphore(step.max_concurrency or max(1, len(items)))

    async def one(i: int) -> tuple[int, StepOutcome]:
        async with limit:
            prior = state.steps.get(names[i])
            first = (prior.attempt if prior else 0) + 1
            return i, await runner.run_step(binding, outputs, first, element=(i, items[i]))

    tasks = [asyncio.ensure_future(one(i)) for i in range(len(items)) if names[i] not in done]
    question: StepOutcome | None = None
    try:
        for next_done in asyncio.as_completed(tasks):
            i, outcome = await next_done
            if outcome.succeeded:
                results[i] = outcome.value
            elif outcome.waiting is not None:
                question = question or outcome
            else:
                error = {
                    "code": "step_failed",
                    "message": f"instance {outcome.step!r} failed",
                    "details": {"instance": i, "error": outcome.error},
                }
                runner.publisher.put(
                    {step_field(name, "status"): StepStatus.FAILED.value,
                     step_field(name, "error"): dumps(error).decode()},
                    NewEvent("step.failed", name, 1, {"error": error}),
                )
                return StepOutcome(name, False, error=error)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if question is not None:
        return question

    payload = dumps(results)
    finished = time.time()
    await runner.publisher.checkpoint(
        name,
        payload,
        {step_field(name, "status"): StepStatus.SUCCEEDED.value,
         step_field(name, "finished_at"): repr(finished)},
        NewEvent("step.succeeded", name, 1, {
            "duration_ms": round((finished - started) * 1000, 3),
            "output_bytes": len(payload),
            "instances": len(items),
        }),
    )
    await runner.hooks.on_step_end(
        runner.run,
        AttemptRecord(name, 1, StepStatus.SUCCEEDED.value, started, finished,
                      (finished - started) * 1000, None, len(payload)),
    )
    sizes[name] = len(payload)
    return StepOutcome(name, True, value=results, output_bytes=len(payload))


__all__ = ["run_mapped"]
