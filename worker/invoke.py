"""Calling a step's function: async, sync (in a thread), or a generator of either."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from orchestrator.dag.step import Step, StepKind
from orchestrator.serialization import to_jsonable

_DONE = object()

YIELD_EVERY_SECONDS = 0.002
"""An async generator step that yields chunks without ever awaiting gets the event loop taken
back from it this often, so that the worker's lease heartbeat, cancel checks and the chunks'
publisher keep running beside it."""


async def invoke(step: Step, kwargs: dict[str, Any], on_chunk: Callable[[Any], None]) -> Any:
    """Run ``step.fn(**kwargs)`` to completion.

    Args:
        step: The step.
        kwargs: Its bound arguments.
        on_chunk: Called with each yielded chunk (as JSON) of a streaming step, in order.

    Returns:
        The function's return value; for a streaming step the list of chunks, or their
        concatenation when every chunk is a ``str`` (DESIGN §2).
    """
    if step.kind is StepKind.ASYNC:
        return await step.fn(**kwargs)
    if step.kind is StepKind.SYNC:
        return await asyncio.to_thread(step.fn, **kwargs)
    chunks: list[Any] = []
    if step.kind is StepKind.ASYNC_GEN:
        agen = step.fn(**kwargs)
        clock = time.monotonic
        turn = clock() + YIELD_EVERY_SECONDS
        try:
            async for chunk in agen:
                value = to_jsonable(chunk)
                on_chunk(value)
                chunks.append(value)
                if clock() >= turn:  # a generator that never awaits would hold the loop
                    await asyncio.sleep(0)
                    turn = clock() + YIELD_EVERY_SECONDS
        finally:
            await agen.aclose()
    else:
        gen = step.fn(**kwargs)
        try:
            while (chunk := await asyncio.to_thread(next, gen, _DONE)) is not _DONE:
                value = to_jsonable(chunk)
                on_chunk(value)
                chunks.append(value)
        finally:
            gen.close()
    if chunks and all(isinstance(c, str) for c in chunks):
        return "".join(chunks)
    return chunks


__all__ = ["invoke"]
