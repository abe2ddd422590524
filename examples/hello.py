"""The ``hello`` workflow: a first job for a fresh deployment, with no dependency beyond the SDK.

::

    greet ─┐
           ├─> letter (streams)
    shout ─┘

Its one input is ``name``. The container image ships it, so ``helm install`` can run a job at
once (``ORCH_WORKFLOWS=examples.hello``, the chart's default); the kind run of ``make e2e-kind``
submits it.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

from sdk import StepContext, step, workflow


@step(parallel=True)
async def greet(name: str) -> str:
    """A greeting for ``name``."""
    return f"Hello, {name}!"


@step(parallel=True)
def shout(name: str) -> str:
    """``name`` in capitals (a sync step: it runs in a thread)."""
    return name.upper()


@step(depends_on=[greet, shout], streams=True)
async def letter(greet: str, shout: str, ctx: StepContext) -> AsyncIterator[str]:
    """A short letter, streamed line by line; it names the worker (pod) that wrote it."""
    ctx.emit({"stage": "writing"})
    for line in (greet, f"{shout} WAS HERE.", f"-- written by {socket.gethostname()}"):
        yield line + "\n"


hello = workflow("hello", letter)

__all__ = ["greet", "hello", "letter", "shout"]
