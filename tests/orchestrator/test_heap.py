"""A process that owns its start-up pauses the collector while it starts, then freezes its
start-up objects out of the collector's passes and turns it back on: the gateway once its
lifespan has started, a worker once started (a one-job worker without the full collection);
only when asked (a test process running many apps and workers must keep collecting their
cycles).

Each test leaves the test process's collector on and unfrozen, whatever happens."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.app import create_app
from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.heap import collection_paused, freeze_long_lived
from orchestrator.services import Services
from tests.conftest import wait_until
from worker.runner import build_worker, stop_worker

SettingsFactory = Callable[..., Settings]


class _Node:
    def __init__(self) -> None:
        self.other: Any = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def test_garbage_is_collected_first_then_live_objects_are_frozen() -> None:
    garbage = _Node()  # a cycle: only the cyclic collector frees it
    gone = weakref.ref(garbage)
    del garbage
    live = [_Node() for _ in range(100)]
    frozen = freeze_long_lived()
    assert gone() is None, "cyclic garbage was frozen, not collected"
    assert frozen == gc.get_freeze_count() >= len(live)
    gc.collect()
    assert gc.get_freeze_count() == frozen, "a full collection walked the frozen objects"


def test_without_the_collection_garbage_is_frozen_with_the_rest() -> None:
    garbage = _Node()
    kept = weakref.ref(garbage)
    del garbage
    freeze_long_lived(collect=False)
    gc.collect()
    assert kept() is not None, "the freeze collected first"
    gc.unfreeze()
    gc.collect()
    assert kept() is None


def test_the_collector_is_paused_for_the_block_and_back_on_after_it_however_it_ends() -> None:
    with pytest.raises(SystemExit), collection_paused():
        assert not gc.isenabled()
        raise SystemExit(2)  # a command-line error inside the start-up
    assert gc.isenabled()
    with collection_paused():
        freeze_long_lived(collect=False)
        assert gc.isenabled(), "the freeze turns the collector on"
    gc.disable()  # a process that runs with the collector off keeps it off
    with collection_paused():
        pass
    assert not gc.isenabled()


@pytest.mark.parametrize("freeze_heap", [True, False])
async def test_the_gateway_freezes_once_started_only_when_asked(
    isolated_settings: SettingsFactory, freeze_heap: bool
) -> None:
    settings = isolated_settings()
    services = await Services.open(settings, WorkflowRegistry([]))
    try:
        app = create_app(settings, services=services, freeze_heap=freeze_heap)
        assert gc.get_freeze_count() == 0
        with collection_paused():  # as `orchestrator gateway` starts it
            async with app.router.lifespan_context(app):
                assert (gc.get_freeze_count() > 0) is freeze_heap
                assert gc.isenabled() is freeze_heap
    finally:
        await services.close()


@pytest.mark.parametrize(("freeze_heap", "one_job"), [(True, False), (True, True), (False, False)])
async def test_a_worker_freezes_once_started_only_when_asked(
    isolated_settings: SettingsFactory, freeze_heap: bool, one_job: bool
) -> None:
    services = await Services.open(isolated_settings(), WorkflowRegistry([]))
    worker = build_worker(services, handle_signals=False, freeze_heap=freeze_heap,
                          one_job=one_job)  # fmt: skip
    started = asyncio.Event()
    on_startup = worker.on_startup
    assert on_startup is not None

    async def startup_then_mark(ctx: dict[str, Any]) -> None:
        await on_startup(ctx)
        started.set()

    worker.on_startup = startup_then_mark
    task = asyncio.ensure_future(worker.async_run())
    try:
        async def is_started() -> bool:
            return started.is_set()

        with collection_paused():  # as `orchestrator worker` starts it
            await wait_until(is_started, what="the worker's start-up")
            assert (gc.get_freeze_count() > 0) is freeze_heap
            assert gc.isenabled() is freeze_heap
    finally:
        await stop_worker(worker, task)
        await services.close()
