"""Contract suite of the trace store, run against SQLite (a temp file) and real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, select, text

from orchestrator.errors import ConfigError, TraceError
from orchestrator.trace import AuditRecord, JobRecord, StepRunRecord, TraceStore, current
from orchestrator.trace.migrate import alembic_config, head
from orchestrator.trace.schema import audit_log, jobs, metadata
from orchestrator.types import JobStatus, StepStatus

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_job(**overrides: Any) -> JobRecord:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "workflow": "research",
        "status": JobStatus.QUEUED,
        "inputs": {"topic": "otters", "depth": 2},
        "created_at": T0,
    }
    fields.update(overrides)
    return JobRecord(**fields)


def make_run(job_id: str, step: str = "fetch", attempt: int = 1, **overrides: Any) -> StepRunRecord:
    fields: dict[str, Any] = {
        "job_id": job_id,
        "step": step,
        "attempt": attempt,
        "status": StepStatus.RUNNING,
        "started_at": T0,
    }
    fields.update(overrides)
    return StepRunRecord(**fields)


async def audit_rows(store: TraceStore) -> list[Any]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(select(audit_log).order_by(audit_log.c.id))).all())


async def test_migrations_bring_the_database_to_the_head_revision(
    database_url: str, store: TraceStore
) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert head is not None
    assert await asyncio.to_thread(current, database_url) == head
    async with store.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {"jobs", "step_runs", "audit_log", "alembic_version"} <= tables


async def test_the_start_up_checks_head_is_alembics_and_reads_its_revision_as_alembic_does(
    database_url: str, store: TraceStore, tmp_path: Path
) -> None:
    """``head()`` is a constant (``migrations.HEAD``, so a server's check imports no Alembic):
    it must name the head Alembic computes from ``migrations/versions``; add a migration and
    this fails until HEAD follows. The revision read from the version table is Alembic's."""
    heads = ScriptDirectory.from_config(alembic_config(database_url)).get_heads()
    assert head() == ",".join(sorted(heads))
    async with store.engine.connect() as conn:
        alembic_says = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision())
    assert await store.revision() == alembic_says == head()
    never_migrated = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert await asyncio.to_thread(current, never_migrated) is None


async def test_the_migrated_schema_matches_schema_py_exactly(store: TraceStore) -> None:
    def diff(sync: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(sync), metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_ping_succeeds_on_a_live_database(store: TraceStore) -> None:
    await store.ping()


async def test_an_inserted_job_reads_back_with_its_instants_in_utc(store: TraceStore) -> None:
    job = make_job(
        created_at=T0.astimezone(timezone(timedelta(hours=2))),
        error={"code": "step_failed", "message": "boom", "details": {}},
        tenant_id="acme", user_id="ada", idempotency_key="k-1", trace_id="ab" * 16,
    )  # fmt: skip
    await store.insert_job(job)

    loaded = await store.get_job(job.id)

    assert loaded == job
    assert loaded is not None and loaded.created_at.tzinfo == UTC
    assert loaded.result is None and loaded.started_at is None


async def test_get_job_returns_none_for_an_unknown_or_malformed_id(store: TraceStore) -> None:
    assert await store.get_job(str(uuid.uuid4())) is None
    assert await store.get_job("not-a-uuid") is None
    assert await store.get_job("") is None


async def test_insert_job_commits_its_audit_entry_in_the_same_transaction(
    store: TraceStore,
) -> None:
    job = make_job()
    audit = AuditRecord(at=T0, actor="ada", action="job.submit", job_id=job.id, client_ip="::1")
    await store.insert_job(job, audit)

    with pytest.raises(TraceError) as caught:
        await store.insert_job(job, audit)  # duplicate id: the whole transaction rolls back

    assert caught.value.code == "trace_unavailable"
    rows = await audit_rows(store)
    assert [(row.action, str(row.job_id), row.client_ip) for row in rows] == [
        ("job.submit", job.id, "::1")
    ]


async def test_list_jobs_pages_newest_first_with_the_total_count(store: TraceStore) -> None:
    created = [make_job(created_at=T0 + timedelta(minutes=i)) for i in range(5)]
    for job in created:
        await store.insert_job(job)
    newest_first = [job.id for job in reversed(created)]

    first, total = await store.list_jobs(limit=2)
    second, _ = await store.list_jobs(limit=2, offset=2)
    beyond, total_beyond = await store.list_jobs(limit=2, offset=10)

    assert total == total_beyond == 5
    assert [job.id for job in first + second] == newest_first[:4]
    assert beyond == []


async def test_list_jobs_filters_by_status_workflow_and_creation_window(
    store: TraceStore,
) -> None:
    early = make_job(created_at=T0)
    late = make_job(created_at=T0 + timedelta(hours=1), status=JobStatus.RUNNING)
    other = make_job(created_at=T0 + timedelta(hours=1), workflow="summarise")
    for job in (early, late, other):
        await store.insert_job(job)

    async def ids(**filters: Any) -> set[str]:
        page, total = await store.list_jobs(**filters)
        assert total == len(page)
        return {job.id for job in page}

    assert await ids(status="running") == {late.id}
    assert await ids(workflow="research") == {early.id, late.id}
    assert await ids(created_after=T0 + timedelta(minutes=1)) == {late.id, other.id}
    assert await ids(created_before=T0 + timedelta(minutes=1)) == {early.id}
    assert await ids(workflow="research", created_after=T0 + timedelta(hours=1)) == {late.id}


async def test_list_jobs_rejects_a_negative_limit(store: TraceStore) -> None:
    with pytest.raises(ValueError):
        await store.list_jobs(limit=-1)


async def test_mark_job_started_keeps_the_first_start_when_a_job_resumes(
    store: TraceStore,
) -> None:
    job = make_job()
    await store.insert_job(job)

    await store.mark_job_started(job.id, T0 + timedelta(seconds=1))
    await store.set_job_status(job.id, JobStatus.WAITING)
    await store.mark_job_started(job.id, T0 + timedelta(seconds=9))

    loaded = await store.get_job(job.id)
    assert loaded is not None
    assert loaded.status is JobStatus.RUNNING
    assert loaded.started_at == T0 + timedelta(seconds=1)


async def test_set_job_status_changes_only_the_status(store: TraceStore) -> None:
    job = make_job()
    await store.insert_job(job)

    await store.set_job_status(job.id, JobStatus.WAITING)

    assert await store.get_job(job.id) == make_job(id=job.id, status=JobStatus.WAITING)


async def test_finish_job_records_the_terminal_status_result_and_error(
    store: TraceStore,
) -> None:
    succeeded, failed = make_job(), make_job()
    for job in (succeeded, failed):
        await store.insert_job(job)
    error = {"code": "step_failed", "message": "boom", "details": {"step": "fetch"}}
    finished_at = T0 + timedelta(minutes=3)

    await store.finish_job(succeeded.id, JobStatus.SUCCEEDED, result=[1, "two"],
                           finished_at=finished_at)  # fmt: skip
    await store.finish_job(failed.id, JobStatus.FAILED, error=error, finished_at=finished_at)

    ok, bad = await store.get_job(succeeded.id), await store.get_job(failed.id)
    assert ok is not None and bad is not None
    assert (ok.status, ok.result, ok.error, ok.finished_at) == (
        JobStatus.SUCCEEDED, [1, "two"], None, finished_at,
    )  # fmt: skip
    assert (bad.status, bad.result, bad.error) == (JobStatus.FAILED, None, error)


async def test_finish_job_rejects_a_status_that_is_not_terminal(store: TraceStore) -> None:
    with pytest.raises(ValueError):
        await store.finish_job(str(uuid.uuid4()), JobStatus.RUNNING, finished_at=T0)


async def test_upserting_the_same_attempt_again_updates_its_single_row(
    store: TraceStore,
) -> None:
    job = make_job()
    await store.insert_job(job)
    await store.upsert_step_runs([make_run(job.id, worker_id="w1")])

    done = make_run(
        job.id, status=StepStatus.SUCCEEDED, started_at=None, finished_at=T0 + timedelta(seconds=2),
        duration_ms=2000.5, worker_id="w2", output_bytes=42,
    )  # fmt: skip
    await store.upsert_step_runs([done])

    [run] = await store.list_step_runs(job.id)
    assert run.id is not None
    assert run == StepRunRecord(
        job_id=job.id, step="fetch", attempt=1, status=StepStatus.SUCCEEDED, started_at=T0,
        finished_at=T0 + timedelta(seconds=2), duration_ms=2000.5, worker_id="w2",
        output_bytes=42, id=run.id,
    )  # fmt: skip


async def test_a_batch_that_repeats_an_attempt_keeps_its_last_record(store: TraceStore) -> None:
    job = make_job()
    await store.insert_job(job)
    failed = make_run(job.id, status=StepStatus.FAILED, error={"code": "step_failed"})

    await store.upsert_step_runs([make_run(job.id), failed, make_run(job.id, attempt=2)])
    await store.upsert_step_runs([])

    runs = await store.list_step_runs(job.id)
    assert [(run.attempt, run.status, run.error) for run in runs] == [
        (1, StepStatus.FAILED, {"code": "step_failed"}),
        (2, StepStatus.RUNNING, None),
    ]


async def test_step_runs_list_by_start_then_step_then_attempt(store: TraceStore) -> None:
    job = make_job()
    await store.insert_job(job)
    await store.upsert_step_runs([
        make_run(job.id, "write", started_at=None, status=StepStatus.PENDING),
        make_run(job.id, "summarise", started_at=T0 + timedelta(seconds=5)),
        make_run(job.id, "fetch", attempt=2),
        make_run(job.id, "fetch", attempt=1),
        make_run(job.id, "search"),
    ])  # fmt: skip

    runs = await store.list_step_runs(job.id)

    assert [(run.step, run.attempt) for run in runs] == [
        ("fetch", 1), ("fetch", 2), ("search", 1), ("summarise", 1), ("write", 1),
    ]  # fmt: skip
    assert await store.list_step_runs("not-a-uuid") == []


async def test_a_batch_larger_than_one_statement_is_written_whole(store: TraceStore) -> None:
    job = make_job()
    await store.insert_job(job)

    await store.upsert_step_runs([make_run(job.id, f"s{i:04d}") for i in range(2500)])

    assert len(await store.list_step_runs(job.id)) == 2500


async def test_a_step_run_of_an_unknown_job_is_refused(store: TraceStore) -> None:
    with pytest.raises(TraceError) as caught:
        await store.upsert_step_runs([make_run(str(uuid.uuid4()))])

    assert caught.value.code == "trace_unavailable"


async def test_deleting_a_job_deletes_its_step_runs(store: TraceStore) -> None:
    job = make_job()
    await store.insert_job(job)
    await store.upsert_step_runs([make_run(job.id)])

    async with store.engine.begin() as conn:
        await conn.execute(jobs.delete())

    assert await store.list_step_runs(job.id) == []


async def test_add_audit_appends_entries_even_for_jobs_never_stored(store: TraceStore) -> None:
    orphan = str(uuid.uuid4())
    await store.add_audit(AuditRecord(at=T0, actor="ops", action="auth.denied"))
    await store.add_audit(
        AuditRecord(at=T0 + timedelta(seconds=1), actor="ada", action="job.cancel",
                    tenant_id="acme", job_id=orphan, details={"reason": "typo"},
                    request_id="req-1", client_ip="10.0.0.7")
    )  # fmt: skip

    first, second = await audit_rows(store)

    assert (first.actor, first.action, first.job_id, first.details) == (
        "ops", "auth.denied", None, None,
    )  # fmt: skip
    assert (str(second.job_id), second.details, second.request_id, second.tenant_id) == (
        orphan, {"reason": "typo"}, "req-1", "acme",
    )  # fmt: skip


async def test_count_jobs_by_status_reports_every_status(store: TraceStore) -> None:
    for status in (JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.FAILED):
        await store.insert_job(make_job(status=status))

    counts = await store.count_jobs_by_status()

    assert counts == {
        "queued": 2, "running": 0, "waiting": 0, "succeeded": 0, "failed": 1, "cancelled": 0,
    }  # fmt: skip


async def test_latency_summary_takes_nearest_rank_percentiles_of_succeeded_runs(
    store: TraceStore,
) -> None:
    research, summarise = make_job(), make_job(workflow="summarise")
    for job in (research, summarise):
        await store.insert_job(job)
    runs = [
        make_run(research.id, "fetch", attempt=ms, status=StepStatus.SUCCEEDED,
                 duration_ms=float(ms), finished_at=T0 + timedelta(seconds=ms))
        for ms in range(1, 101)
    ]  # fmt: skip
    runs.append(make_run(research.id, "fetch", attempt=101, status=StepStatus.FAILED,
                         duration_ms=99999.0, finished_at=T0))  # fmt: skip
    runs.append(make_run(summarise.id, "fetch", status=StepStatus.SUCCEEDED, duration_ms=7.0,
                         finished_at=T0))  # fmt: skip
    await store.upsert_step_runs(runs)

    summary = await store.step_latency_summary()
    recent = await store.step_latency_summary(limit_per_step=10)

    assert summary == [
        {"workflow": "research", "step": "fetch", "count": 100,
         "p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0, "max_ms": 100.0},
        {"workflow": "summarise", "step": "fetch", "count": 1,
         "p50_ms": 7.0, "p95_ms": 7.0, "p99_ms": 7.0, "max_ms": 7.0},
    ]  # fmt: skip
    assert recent[0] == {"workflow": "research", "step": "fetch", "count": 10,
                         "p50_ms": 95.0, "p95_ms": 100.0, "p99_ms": 100.0, "max_ms": 100.0}  # fmt: skip


async def test_naive_datetimes_are_refused(store: TraceStore) -> None:
    with pytest.raises(ValueError):
        await store.insert_job(make_job(created_at=datetime(2025, 1, 1)))


async def test_an_unreachable_database_raises_trace_error() -> None:
    for url in (
        "postgresql+asyncpg://root@127.0.0.1:1/none",
        "sqlite+aiosqlite:////no/such/dir/x.db",
    ):
        store = TraceStore.from_url(url)
        try:
            with pytest.raises(TraceError) as caught:
                await store.ping()
            assert caught.value.code == "trace_unavailable"
        finally:
            await store.close()


async def test_a_malformed_url_raises_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        TraceStore.from_url("not a url")

    assert caught.value.code == "config_invalid"


async def test_an_in_memory_sqlite_store_keeps_its_schema_across_checkouts() -> None:
    store = TraceStore.from_url("sqlite+aiosqlite://")
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)  # tests only; services migrate
        job = make_job()
        await store.insert_job(job)
        assert await store.get_job(job.id) == job
    finally:
        await store.close()


async def test_a_sqlite_file_store_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    store = TraceStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'trace.db'}")
    try:
        async with store.engine.connect() as conn:
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            foreign_keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
        assert (journal, foreign_keys) == ("wal", 1)
    finally:
        await store.close()
