"""``orchestrator agent``: the CLI runs an agent task in its process.

What stands in for the paid API: ``fakellm`` (PyPI), started by the command itself with
``--model fake`` and the recorded rules of examples/repo_agent/fakellm.yaml; the real
``anthropic`` SDK talks to it over HTTP. The tools are real: mcp-server-git over stdio, on a
repository made for the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.cli.agent import FAKE_PREFIX
from tests.support.mcp_servers import make_git_repo

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", "agent", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ORCH_", "ANTHROPIC_", "OPENAI_"))}  # fmt: skip
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_without_a_provider_the_command_says_how_to_configure_one_in_one_line(
    tmp_path: Path,
) -> None:
    done = run_cli("What changed?", cwd=tmp_path, env=clean_env())
    assert done.returncode == 2
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert "ANTHROPIC_API_KEY" in done.stderr and "OPENAI_BASE_URL" in done.stderr


def test_model_fake_replays_the_recorded_model_on_real_git_tools_and_says_so_on_every_line(
    tmp_path: Path,
) -> None:
    repo = make_git_repo(tmp_path / "repo", commits=2)
    done = run_cli("What changed recently in this repository?", "--model", "fake", "--stream",
                   cwd=repo, env=clean_env())  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(line.startswith(FAKE_PREFIX) for line in lines), done.stdout
    text = "\n".join(lines)
    assert "routed to code" in text
    assert "git/git_log: ok" in text and "git/git_status: ok" in text  # real tool calls
    assert "[source] git/git_log" in text
