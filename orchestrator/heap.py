"""A long-lived process's start-up objects, kept out of the cyclic garbage collector's passes.

A gateway or worker process holds 50,000 to 120,000 container objects after start-up (modules,
classes, pydantic and SQLAlchemy schemas, the FastAPI app, the warm-ups' data) that live until
it exits. While they are built, CPython's collector runs every 700 allocations and now and then
walks all of them (a full, generation-2 collection); once the process serves, a full collection
still walks them all, 50 to 70 ms each, and a request holding many objects across an ``await`` (a
batch of 1,000 jobs) set one off every few requests.

So a process that owns its start-up pauses the collector while it starts
(:func:`collection_paused`), then moves everything it built into the permanent generation,
which collections skip, and turns the collector back on (:func:`freeze_long_lived`). Reference
counting frees frozen objects as before; only cyclic garbage among them is never collected.

Source: Python documentation, ``gc.freeze`` and ``gc.disable`` (3.7+); Instagram Engineering,
"Dismissing Python Garbage Collection at Instagram" (2017).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collections while the block runs (a process's start-up), unless
    :func:`freeze_long_lived` turns the collector back on first; on leaving the block, however
    it is left, the collector is on again if it was on before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_long_lived(*, collect: bool = True) -> int:
    """Freeze every object tracked now, then turn the collector on.

    Call once a long-lived process has started (its imports done, its clients open), before
    it serves. Frozen objects that later become cyclic garbage are not collected; start-up
    objects live as long as the process, so that is a bounded, one-time cost.

    Args:
        collect: Collect garbage first (a full collection: tens of milliseconds). ``False`` for
            a process that runs one job and exits: freezing alone takes constant time, and the
            start-up's garbage stays until the exit.

    Returns:
        How many objects are frozen (``gc.get_freeze_count()``).
    """
    if collect:
        gc.collect()
    gc.freeze()
    gc.enable()
    return gc.get_freeze_count()


__all__ = ["collection_paused", "freeze_long_lived"]
