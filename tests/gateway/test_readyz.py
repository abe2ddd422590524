"""``/readyz`` fails while the database is not migrated, and says to run `orchestrator migrate`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import pytest_asyncio
from sqlalchemy.engine import make_url

from gateway.app import create_app
from orchestrator.config import Settings
from tests.gateway import flows


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


async def test_readyz_is_503_on_an_unmigrated_database_and_names_the_fix(
    isolated_settings: Callable[..., Settings],
    empty_database: str,
) -> None:
    settings = isolated_settings(database={"url": empty_database})
    app = create_app(settings, registry=flows.registry())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as client:
            response = await client.get("/readyz")

    assert response.status_code == 503
    body = response.json()["error"]
    assert body["code"] == "not_ready"
    assert body["details"]["checks"]["database"] == "ok"
    assert "orchestrator migrate" in body["details"]["checks"]["migrations"]
