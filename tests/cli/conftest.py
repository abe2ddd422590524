"""One gateway and one worker, as separate processes, shared by a module's CLI or SDK tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Stack, start_stack

WORKFLOWS = "tests.e2e.flows,tests.cli.flows"


@pytest.fixture(scope="module")
def live_stack(
    redis_url: str, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """``orchestrator gateway`` + ``orchestrator worker`` running tests/e2e and tests/cli flows."""
    with start_stack(redis_url, pg_url, tmp_path_factory.mktemp("stack"), workflows=WORKFLOWS) as s:
        yield s


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m orchestrator.cli ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def client_env(stack: Stack) -> dict[str, str]:
    """The environment a user of the stack's gateway has."""
    return {**stack.env, "ORCH_GATEWAY__URL": stack.url, "ORCH_GATEWAY__API_KEY": stack.key}


__all__ = ["ROOT", "Path", "client_env", "run_cli"]
