"""The deferred trace store: a worker starts without SQLAlchemy and builds the store on first use."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from orchestrator.errors import ConfigError
from orchestrator.trace.deferred import DeferredTraceStore
from orchestrator.trace.records import JobRecord
from orchestrator.types import JobStatus


def test_the_worker_entry_point_does_not_import_sqlalchemy() -> None:
    code = ("import sys, orchestrator.cli.main, worker.runner, orchestrator.services; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy')[:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


async def test_the_store_is_built_on_first_use_and_works(pg_url: str) -> None:
    store = DeferredTraceStore(pg_url, pool_size=1)
    assert not store.built
    job_id = str(uuid.uuid4())
    try:
        await store.insert_job(JobRecord(id=job_id, workflow="wf", status=JobStatus.QUEUED,
                                         inputs={}, created_at=datetime.now(UTC)))
        assert store.built
        row = await store.get_job(job_id)
        assert row is not None and row.workflow == "wf"
    finally:
        await store.close()


async def test_a_malformed_url_fails_at_once_and_an_unbuilt_store_closes_quietly() -> None:
    with pytest.raises(ConfigError):
        DeferredTraceStore("not a url", pool_size=1)
    store = DeferredTraceStore("postgresql+asyncpg://root@127.0.0.1:1/none", pool_size=1)
    await store.close()
    assert not store.built


async def test_ready_builds_the_store_in_a_thread_while_the_loop_keeps_running(pg_url: str) -> None:
    import asyncio
    import threading

    from orchestrator.trace.deferred import ready

    store = DeferredTraceStore(pg_url, pool_size=1)
    builders: list[str] = []
    build = store.build

    def spy() -> object:  # records which thread builds (never the event loop's)
        builders.append(threading.current_thread().name)
        return build()

    store.build = spy  # type: ignore[method-assign]
    try:
        real = await ready(store)
        assert store.built and real is store._real and await ready(store) is real
        assert builders and builders[0] != threading.main_thread().name
        assert await ready(real) is real  # a real store is its own
    finally:
        await store.close()
        await asyncio.sleep(0)
