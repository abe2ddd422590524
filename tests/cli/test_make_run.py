"""`make run`'s command on a machine with no Redis or database configured (embedded defaults)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_SYSTEM": "/dev/null"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "sample"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "README.md").write_text("# Sample project\n")
    (repo / "app.py").write_text("print('hello')\n" * 10)
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=Ada", "-c", "user.email=ada@example.com",
         "commit", "-qm", "Add the sample app")
    return repo


def test_dev_submit_runs_the_example_with_embedded_redis_and_sqlite(
    sample_repo: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env["ORCH_WORKFLOWS"] = "examples.repo_brief"
    env.pop("ANTHROPIC_API_KEY", None)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "dev", "--port", "0",
         "--submit", "repo_brief", "--input", f"repo_path={sample_repo}"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.startswith("# Repository brief: sample")
    assert "Local summary (no ANTHROPIC_API_KEY set)" in out
    assert "Add the sample app" in out
    assert "succeeded" in proc.stderr
    assert "started embedded redis-server" in proc.stderr
    assert (workdir / ".orchestrator" / "dev.db").exists()


def test_a_bad_input_pair_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "dev", "--submit", "x", "--input", "novalue"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "key=value" in proc.stderr
