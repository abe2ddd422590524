"""Errors say what to do: one line on stderr, a non-zero exit, no traceback (unless --debug).

Each failure is provoked for real: closed ports for an unreachable gateway, Redis or database,
an empty PostgreSQL database for "not migrated", a misspelt variable, a URL without its driver.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from tests.cli.conftest import run_cli


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    return {**env, "ORCH_WORKFLOWS": "tests.e2e.flows", **extra}


def assert_one_line(proc: object, code: str) -> None:
    stderr = proc.stderr  # type: ignore[attr-defined]
    assert proc.returncode == 2, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error [")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"error [{code}]")


@pytest_asyncio.fixture(loop_scope="session")
async def empty_database(pg_url: str) -> AsyncIterator[str]:
    """A PostgreSQL database that exists but was never migrated."""
    base = make_url(pg_url)
    name = f"orch_empty_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(
        base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_an_unreachable_gateway_is_one_line_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    for args in (["jobs", "list"], ["submit", "e2e_brief"], ["jobs", "events", "x", "-f"]):
        proc = run_cli(base_env(ORCH_GATEWAY__URL=url), *args)
        assert_one_line(proc, "gateway_unreachable")
        assert url in proc.stderr


@pytest.mark.parametrize("command", ["gateway", "worker"])
def test_a_server_with_redis_down_refuses_to_start(command: str, pg_url: str) -> None:
    proc = run_cli(
        base_env(ORCH_REDIS__URL=f"redis://127.0.0.1:{closed_port()}/0", ORCH_DATABASE__URL=pg_url),
        command,
    )
    assert_one_line(proc, "config_invalid")
    assert "ORCH_REDIS__URL" in proc.stderr


def test_a_gateway_with_the_database_down_refuses_to_start(redis_url: str) -> None:
    url = f"postgresql+asyncpg://nobody:s3cret@127.0.0.1:{closed_port()}/orch"
    proc = run_cli(base_env(ORCH_REDIS__URL=redis_url, ORCH_DATABASE__URL=url), "gateway")
    assert_one_line(proc, "config_invalid")
    assert "ORCH_DATABASE__URL" in proc.stderr
    assert "s3cret" not in proc.stderr


def test_a_gateway_on_an_unmigrated_database_names_orchestrator_migrate(
    redis_url: str,
    empty_database: str,
) -> None:
    proc = run_cli(
        base_env(ORCH_REDIS__URL=redis_url, ORCH_DATABASE__URL=empty_database), "gateway"
    )
    assert_one_line(proc, "database_not_migrated")
    assert "orchestrator migrate" in proc.stderr


def test_a_url_without_its_async_driver_suggests_the_driver() -> None:
    proc = run_cli(base_env(ORCH_DATABASE__URL="postgresql://me:pw@db.example/orch"), "migrate")
    assert_one_line(proc, "config_invalid")
    assert "postgresql+asyncpg://me:***@db.example/orch" in proc.stderr


def test_an_invalid_setting_names_the_variable() -> None:
    proc = run_cli(base_env(ORCH_LEASE__TTL_SECONDS="soon"), "config")
    assert_one_line(proc, "config_invalid")
    assert "ORCH_LEASE__TTL_SECONDS" in proc.stderr


def test_an_unknown_orch_variable_is_warned_about_with_the_closest_name() -> None:
    proc = run_cli(base_env(ORCH_REDIS_URL="redis://127.0.0.1:6379/0"), "config")
    assert proc.returncode == 0
    assert "ORCH_REDIS_URL" in proc.stderr and "did you mean ORCH_REDIS__URL" in proc.stderr


def test_debug_shows_the_traceback() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    proc = run_cli(base_env(ORCH_GATEWAY__URL=url), "--debug", "jobs", "list")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_migrate_with_the_database_down_is_one_line_with_the_password_masked() -> None:
    url = f"postgresql+asyncpg://me:s3cret@127.0.0.1:{closed_port()}/orch"
    proc = run_cli(base_env(ORCH_DATABASE__URL=url), "migrate")
    assert_one_line(proc, "config_invalid")
    assert "me:***@" in proc.stderr and "s3cret" not in proc.stderr


def test_dev_with_redis_down_is_one_line() -> None:
    proc = run_cli(
        base_env(ORCH_REDIS__URL=f"redis://127.0.0.1:{closed_port()}/0"),
        "dev",
        "--submit",
        "e2e_brief",
    )
    assert_one_line(proc, "config_invalid")
    assert "ORCH_REDIS__URL" in proc.stderr
