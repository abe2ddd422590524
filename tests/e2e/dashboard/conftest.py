"""A real browser (Debian's Chromium through pytest-playwright) on a real gateway and worker.

The gateway is ``orchestrator gateway`` (uvicorn) on a free port and the worker a separate
``orchestrator worker`` process (``tests/e2e/conftest.py``). Chromium comes from Debian
(``.ci/run`` installs ``chromium-headless-shell``); ``playwright install`` is never run. Outside
CI a machine without the binary skips these tests with the reason printed; under ``CI=true`` they
run (and fail if the browser is missing).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from playwright.sync_api import Browser, BrowserType, Playwright, sync_playwright

from tests.e2e.conftest import ROOT, Stack, start_stack

CHROMIUM = os.environ.get("ORCH_TEST_CHROMIUM", "/usr/lib/chromium/chromium-headless-shell")
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests where Chromium is missing, but never on CI."""
    if Path(CHROMIUM).exists() or os.environ.get("CI") == "true":
        return
    reason = (f"no Chromium at {CHROMIUM}: apt-get install chromium-headless-shell "
              "(or set ORCH_TEST_CHROMIUM); CI installs it")  # fmt: skip
    print(f"\nskipping the dashboard browser tests: {reason}", file=sys.stderr)
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def _database_before_browser(pg_url: str) -> str:
    """Set up the (async) database fixture before Playwright's sync API starts its own event
    loop in this thread; pytest-asyncio cannot run a fixture inside a running loop."""
    return pg_url


# pytest-playwright's sync API keeps an event loop running in this thread from its start to its
# stop; its fixtures are session-scoped, so every async test collected after this package would
# fail ("Runner.run() cannot be called from a running event loop"). The same fixtures, scoped to
# this package: Playwright stops when its tests are done.


@pytest.fixture(scope="package")
def playwright(_pw_api_request_contexts: Any) -> Iterator[Playwright]:
    """Playwright for this package's tests only."""
    pw = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(pw)
    yield pw
    pw.stop()


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    """The browser type (Chromium), on this package's Playwright."""
    return cast(BrowserType, getattr(playwright, browser_name))


@pytest.fixture(scope="package")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    """Launch the browser with the launch arguments below."""

    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    """One browser for this package's tests."""
    launched = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="package")
def browser_context_args() -> dict[str, Any]:
    """Each test's browser context: a desktop viewport (no device emulation, no video)."""
    return {"viewport": {"width": 1280, "height": 900}}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's Chromium (root in containers needs --no-sandbox; small /dev/shm)."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    }


@dataclass
class Dashboard:
    """The running stack with keys of three principals and a marker directory for gates."""

    stack: Stack
    admin_key: str
    viewer_key: str
    other_key: str
    marker_dir: Path

    @property
    def url(self) -> str:
        return self.stack.url


def create_key(stack: Stack, tenant: str, role: str) -> str:
    """An API key made with ``orchestrator keys create``."""
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "keys", "create", "--tenant", tenant,
         "--role", role, "--name", f"ui-{role}"],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def dashboard(
    redis_url: str, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    """Gateway + worker running tests/e2e/dashboard/flows.py, with admin, viewer and
    other-tenant keys."""
    tmp = tmp_path_factory.mktemp("dash")
    # The e2e default lease (1.5 s) is for crash tests; a step yielding 100,000 chunks on a
    # busy shared machine can starve its heartbeat that long, and the job would restart.
    lease = {"ORCH_LEASE__TTL_SECONDS": "15", "ORCH_LEASE__CHECK_INTERVAL_SECONDS": "1"}
    with start_stack(
        redis_url, pg_url, tmp, workflows="tests.e2e.dashboard.flows", extra_env=lease
    ) as s:
        tenant = "e2e-" + s.prefix[1:]
        markers = tmp / "markers"
        markers.mkdir()
        yield Dashboard(
            s,
            s.key,
            create_key(s, tenant, "viewer"),
            create_key(s, f"other-{s.prefix}", "admin"),
            markers,
        )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
