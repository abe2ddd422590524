"""A long-lived process freezes its start-up objects out of the collector's full passes: the
gateway once its lifespan has started, a long-lived worker once started; only when asked (a
test process running many apps and workers must keep collecting their cycles).

Each test unfreezes the test process's objects again, whatever happens."""

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
from orchestrator.heap import freeze_long_lived
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


@pytest.mark.parametrize("freeze_heap", [True, False])
async def test_the_gateway_freezes_once_started_only_when_asked(
    isolated_settings: SettingsFactory, freeze_heap: bool
) -> None:
    settings = isolated_settings()
    services = await Services.open(settings, WorkflowRegistry([]))
    try:
        app = create_app(settings, services=services, freeze_heap=freeze_heap)
        assert gc.get_freeze_count() == 0
        async with app.router.lifespan_context(app):
            assert (gc.get_freeze_count() > 0) is freeze_heap
    finally:
        await services.close()


@pytest.mark.parametrize("freeze_heap", [True, False])
async def test_a_long_lived_worker_freezes_once_started_only_when_asked(
    isolated_settings: SettingsFactory, freeze_heap: bool
) -> None:
    services = await Services.open(isolated_settings(), WorkflowRegistry([]))
    worker = build_worker(services, handle_signals=False, freeze_heap=freeze_heap)
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

        await wait_until(is_started, what="the worker's start-up")
        assert (gc.get_freeze_count() > 0) is freeze_heap
    finally:
        await stop_worker(worker, task)
        await services.close()
