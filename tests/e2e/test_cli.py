"""The CLI against the running stack: `submit --stream`, `worker --one-job`, `migrate`."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.e2e.conftest import ROOT, Stack

pytestmark = pytest.mark.e2e


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_submit_stream_prints_the_chunks_then_reports_success(stack: Stack, tmp_path: Path) -> None:
    proc = cli(
        {**stack.env, "ORCH_GATEWAY__URL": stack.url},
        "submit", "e2e_brief", "--stream",
        "--input", f"marker_dir={tmp_path}", "--input", "topic=cli", "--input", "chunks=3",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("[0] left about cli x3\n[1] left about cli x3\n[2] left about cli x3\n")
    assert "succeeded" in proc.stderr


def test_submit_of_an_unknown_workflow_exits_with_its_error_code(stack: Stack) -> None:
    proc = cli({**stack.env, "ORCH_GATEWAY__URL": stack.url}, "submit", "nope")
    assert proc.returncode == 2
    assert "workflow_not_found" in proc.stderr


def test_a_one_job_worker_runs_exactly_one_job_and_exits(stack: Stack, tmp_path: Path) -> None:
    stack.workers[0].terminate()
    stack.workers[0].wait(15)
    ids = []
    for topic in ("one", "two"):
        r = httpx.post(f"{stack.url}/v1/jobs", headers=stack.headers, json={
            "workflow": "e2e_brief", "inputs": {"marker_dir": str(tmp_path), "topic": topic}})
        assert r.status_code == 202
        ids.append(r.json()["job_id"])
    proc = cli(stack.env, "worker", "--one-job")
    assert proc.returncode == 0, proc.stderr
    statuses = sorted(httpx.get(f"{stack.url}/v1/jobs/{i}", headers=stack.headers).json()["status"] for i in ids)
    assert statuses == ["queued", "succeeded"]
    assert httpx.get(f"{stack.url}/v1/system/queue-depth", headers=stack.headers).json() == {"depth": 1}


def test_a_one_job_worker_with_nothing_to_do_exits_after_its_idle_timeout(stack: Stack) -> None:
    stack.workers[0].terminate()
    stack.workers[0].wait(15)
    proc = cli({**stack.env, "ORCH_WORKER__IDLE_TIMEOUT_SECONDS": "0.5"}, "worker", "--one-job")
    assert proc.returncode == 0, proc.stderr
    assert "idle timeout" in proc.stdout + proc.stderr


async def test_migrate_creates_the_schema_on_an_empty_database(pg_url: str) -> None:
    base = make_url(pg_url)
    name = f"orch_migrate_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(base.set(drivername="postgresql", database="postgres")
                                  .render_as_string(hide_password=False))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
        proc = cli({"ORCH_DATABASE__URL": url, "PATH": "/usr/bin:/bin"}, "migrate")
        assert proc.returncode == 0, proc.stderr
        conn = await asyncpg.connect(base.set(drivername="postgresql", database=name)
                                     .render_as_string(hide_password=False))
        try:
            tables = {r["tablename"] for r in await conn.fetch(
                "select tablename from pg_tables where schemaname = 'public'")}
        finally:
            await conn.close()
        assert {"jobs", "step_runs", "audit_log", "alembic_version"} <= tables
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
