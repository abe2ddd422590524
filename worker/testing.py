"""A pytest plugin for testing workflows without servers: ``pytest_plugins = ["worker.testing"]``
in your top-level ``conftest.py`` (opt-in, so that pytest runs elsewhere do not load the worker).

Fixtures:
    offline_settings: :class:`Settings` whose Redis and database URLs point at a closed port,
        so a test proves that nothing it runs needs them.
    run_local: ``await run_local(workflow, inputs, answers=...)`` → :class:`~worker.local.LocalRun`
        (:func:`worker.local.run_local` on ``offline_settings``).

Example::

    async def test_brief(run_local):
        run = await run_local(company_brief, {"doc_id": "d1", "ticker": "ACME"})
        assert run.status == "succeeded"
        assert "".join(run.chunks["render_doc"]).startswith("#")
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from worker.local import LocalRun


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def offline_settings() -> Settings:
    """Settings whose Redis and PostgreSQL are unreachable (closed ports)."""
    from orchestrator.config import DatabaseSettings, RedisSettings, Settings

    port = closed_port()
    return Settings(
        redis=RedisSettings(url=f"redis://127.0.0.1:{port}/0"),
        database=DatabaseSettings(url=f"postgresql+asyncpg://nobody@127.0.0.1:{port}/none"),
    )


@pytest.fixture
def run_local(offline_settings: Settings) -> Callable[..., Awaitable[LocalRun]]:
    """Run a workflow in-process on in-memory state (see :func:`worker.local.run_local`)."""
    from worker.local import run_local as run

    async def go(workflow: Any, inputs: Any = None, **options: Any) -> LocalRun:
        options.setdefault("settings", offline_settings)
        return await run(workflow, inputs, **options)

    return go


__all__ = ["closed_port", "offline_settings", "run_local"]
