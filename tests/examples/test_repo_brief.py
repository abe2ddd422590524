"""The repo_brief example against a real git repository and the real `mcp-server-git` over stdio,
reached through the orchestrator's MCP manager (``ctx.tools``) configured by the example's
``mcp.yaml``."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from examples.repo_brief import analyse, fetch_history, fetch_survey, render_brief, repo_brief
from examples.repo_brief.claude import claude_analysis, parse_reply
from examples.repo_brief.history import parse_git_log
from orchestrator.jobs.actor import Actor
from orchestrator.llm import CallSite, ProviderRegistry, StepLLM
from orchestrator.llm.anthropic import AnthropicProvider
from orchestrator.mcp.config import read_config_file
from orchestrator.mcp.manager import McpManager
from orchestrator.mcp.step import StepTools
from sdk import StepContext
from tests.support.llm import LLMServer

BINARY = b"\x00\x01\x02binary\x00" * 2
FILES: dict[str, bytes] = {
    "README.md": b"# Widget Factory\n\nMakes widgets.\n",
    "src/widgets.py": b"def assemble():\n    return 'widget'\n\n\n",
    "src/util.py": b"X = 1\nY = 2",
    "docs/guide.md": b"Guide\n=====\n",
    "Makefile": b"run:\n\ttrue\n",
    "data.bin": BINARY,
}
# (author, date, message, files added): oldest first.
COMMITS = [
    ("Ada Lovelace", "2024-01-01T10:00:00+00:00", "Start the widget factory", ["README.md"]),
    (
        "Alan Turing",
        "2024-01-02T11:30:00+01:00",
        "Add widget assembly\n\nLonger body explaining the assembly.",
        ["src/widgets.py", "src/util.py"],
    ),
    (
        "Ada Lovelace",
        "2024-01-03T09:15:00+00:00",
        "Document widget assembly",
        ["docs/guide.md", "Makefile", "data.bin"],
    ),
]
# Isolated from the machine's git configuration (signing, hooks, default branch).
GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, env=env or GIT_ENV, check=True, capture_output=True, text=True,
        timeout=30,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("brief") / "widgets"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for author, date, message, paths in COMMITS:
        for rel in paths:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(FILES[rel])
        git(root, "add", *paths)
        email = author.split()[0].lower() + "@example.org"
        env = {**GIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        git(root, "-c", f"user.name={author}", "-c", f"user.email={email}",
            "commit", "-q", "-m", message, env=env)  # fmt: skip
    return root


@pytest.fixture(scope="module")
def shas(repo: Path) -> list[str]:
    """The commits' shas, newest first."""
    return git(repo, "rev-list", "HEAD").split()


EXAMPLE_MCP_CONFIG = Path(__file__).resolve().parents[2] / "examples/repo_brief/mcp.yaml"


@pytest.fixture(scope="module")
async def manager() -> Any:
    """The example's MCP servers (its mcp.yaml) behind a real manager, closed after the module."""
    async with McpManager(read_config_file(str(EXAMPLE_MCP_CONFIG))) as m:
        yield m


def make_ctx(events: list[Any], manager: McpManager | None = None) -> StepContext:
    ctx = StepContext(
        job_id="job-1", step="test", attempt=1, inputs={}, emit=events.append,
        logger=logging.getLogger("test"),
    )  # fmt: skip
    if manager is not None:
        ctx.tools = StepTools(manager, Actor(id="user:test", tenant_id="t"))
    return ctx


async def test_fetch_history_reads_commits_newest_first_through_the_mcp_server(
    repo: Path, shas: list[str], manager: McpManager
) -> None:
    history = await fetch_history.fn(make_ctx([], manager), repo_path=str(repo))

    assert [c["sha"] for c in history] == shas
    assert [c["message"] for c in history] == [m for _, _, m, _ in reversed(COMMITS)]
    assert [c["author"] for c in history] == ["Ada Lovelace", "Alan Turing", "Ada Lovelace"]
    assert [c["date"] for c in history] == [d for _, d, _, _ in reversed(COMMITS)]


async def test_fetch_history_from_a_subdirectory_reads_max_commits_of_the_whole_repository(
    repo: Path, shas: list[str], manager: McpManager
) -> None:
    ctx = make_ctx([], manager)
    history = await fetch_history.fn(ctx, repo_path=str(repo / "src"), max_commits=2)

    assert [c["sha"] for c in history] == shas[:2]


async def test_fetch_history_of_a_repository_without_commits_is_empty(
    tmp_path: Path, manager: McpManager
) -> None:
    git(tmp_path, "init", "-q")

    assert await fetch_history.fn(make_ctx([], manager), repo_path=str(tmp_path)) == []


async def test_a_path_outside_any_repository_is_a_value_error_naming_it(
    tmp_path: Path, manager: McpManager
) -> None:
    plain = tmp_path / "not-a-repo"
    plain.mkdir()

    with pytest.raises(ValueError, match="not-a-repo"):
        await fetch_history.fn(make_ctx([], manager), repo_path=str(plain))
    with pytest.raises(ValueError, match="not-a-repo"):
        fetch_survey.fn(repo_path=str(plain))
    with pytest.raises(ValueError, match="missing"):
        fetch_survey.fn(repo_path=str(tmp_path / "missing"))


def test_parse_git_log_keeps_multi_line_messages_whole() -> None:
    sha_a, sha_b = "a" * 40, "b" * 40
    text = (
        f"Commit history:\nCommit: {sha_a}\nAuthor: A\nDate: 2024-01-02 03:04:05+02:00\n"
        f"Message: Subject\n\nBody\nMessage: not a header\n\n\n"
        f"Commit: {sha_b}\nAuthor: B\nDate: 2024-01-01 00:00:00+00:00\nMessage: Other\n\n"
    )

    assert parse_git_log(text) == [
        {"sha": sha_a, "author": "A", "date": "2024-01-02T03:04:05+02:00",
         "message": "Subject\n\nBody\nMessage: not a header"},
        {"sha": sha_b, "author": "B", "date": "2024-01-01T00:00:00+00:00", "message": "Other"},
    ]  # fmt: skip
    assert parse_git_log("Commit history:\n") == []


def test_fetch_survey_counts_tracked_files_lines_and_languages(repo: Path) -> None:
    (repo / "untracked.py").write_text("print('ignored')\n")
    try:
        survey = fetch_survey.fn(repo_path=str(repo / "docs"))
    finally:
        (repo / "untracked.py").unlink()

    assert survey["name"] == "widgets"
    assert survey["root"] == str(repo.resolve())
    assert survey["file_count"] == 6
    assert survey["total_lines"] == 13
    assert survey["languages"] == [
        {"language": "Python", "files": 2, "lines": 6},
        {"language": "Markdown", "files": 2, "lines": 5},
        {"language": "Makefile", "files": 1, "lines": 2},
        {"language": ".bin", "files": 1, "lines": 0},
    ]
    assert survey["largest_files"] == [
        {"path": "src/widgets.py", "bytes": 38, "lines": 4},
        {"path": "README.md", "bytes": 33, "lines": 3},
        {"path": "data.bin", "bytes": 20, "lines": None},
        {"path": "docs/guide.md", "bytes": 12, "lines": 2},
        {"path": "Makefile", "bytes": 11, "lines": 2},
    ]
    assert survey["top_level_dirs"] == ["docs", "src"]
    assert survey["readme_title"] == "Widget Factory"
    assert fetch_survey.fn(repo_path=str(repo)) == survey


@pytest.fixture
async def local_analysis(
    repo: Path, monkeypatch: pytest.MonkeyPatch, manager: McpManager
) -> dict[str, Any]:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ORCH_LLM__ANTHROPIC_API_KEY", raising=False)
    history = await fetch_history.fn(make_ctx([], manager), repo_path=str(repo))
    return await analyse.fn(history, fetch_survey.fn(repo_path=str(repo)), make_ctx([]))


async def test_without_an_api_key_the_analysis_is_local_deterministic_and_says_so(
    repo: Path, shas: list[str], local_analysis: dict[str, Any], manager: McpManager
) -> None:
    events: list[Any] = []
    history = await fetch_history.fn(make_ctx([], manager), repo_path=str(repo))
    again = await analyse.fn(history, fetch_survey.fn(repo_path=str(repo)), make_ctx(events))

    assert again == local_analysis
    assert events == [{"stage": "local_analysis"}, {"stage": "analysed", "source": "local"}]
    assert local_analysis["source"] == "local"
    assert local_analysis["summary"] == (
        "Local summary (no ANTHROPIC_API_KEY set): widgets tracks 6 files (13 lines), mostly "
        "Python, Markdown, Makefile. Commits read: 3, from 2024-01-01 to 2024-01-03, by "
        "Ada Lovelace, Alan Turing. Recurring themes: widget, assembly, document, factory, start."
    )
    assert local_analysis["highlights"] == [
        "Most active author: Ada Lovelace (2 of 3 commits)",
        "Main language: Python (6 lines in 2 files)",
        "Largest file: src/widgets.py (38 bytes)",
        "Latest commit: Document widget assembly",
    ]
    assert [c["sha"] for c in local_analysis["recent_commits"]] == shas
    assert local_analysis["recent_commits"][1]["subject"] == "Add widget assembly"


async def test_render_brief_streams_the_markdown_brief_in_chunks(
    shas: list[str], local_analysis: dict[str, Any]
) -> None:
    chunks = [chunk async for chunk in render_brief.fn(local_analysis, make_ctx([]))]

    assert len(chunks) > 15
    assert all(isinstance(chunk, str) and chunk for chunk in chunks)
    expected = f"""# Repository brief: widgets

> Widget Factory

## Overview

{local_analysis["summary"]}

_Local analysis: no model was called._

Tracked files: 6. Lines: 13. Commits read: 3.

## Languages

| Language | Files | Lines |
|---|---:|---:|
| Python | 2 | 6 |
| Markdown | 2 | 5 |
| Makefile | 1 | 2 |
| .bin | 1 | 0 |

## Recent commits

- `{shas[0][:7]}` 2024-01-03 Document widget assembly (Ada Lovelace)
- `{shas[1][:7]}` 2024-01-02 Add widget assembly (Alan Turing)
- `{shas[2][:7]}` 2024-01-01 Start the widget factory (Ada Lovelace)

## Highlights

- Most active author: Ada Lovelace (2 of 3 commits)
- Main language: Python (6 lines in 2 files)
- Largest file: src/widgets.py (38 bytes)
- Latest commit: Document widget assembly

## Layout

Top-level directories: `docs/`, `src/`

Largest files: `src/widgets.py` (38 bytes), `README.md` (33 bytes), `data.bin` (20 bytes), \
`docs/guide.md` (12 bytes), `Makefile` (11 bytes)
"""
    assert "".join(chunks) == expected


async def test_the_claude_analysis_goes_through_ctx_llm_and_parses_the_reply(
    repo: Path, monkeypatch: pytest.MonkeyPatch, llm_server: LLMServer, manager: McpManager
) -> None:
    """What stands in for the Anthropic API: tests/support/llm_server.py (the Messages API's SSE
    wire format); the real ``anthropic`` SDK behind ``ctx.llm`` talks to it over HTTP."""
    monkeypatch.setenv("ORCH_EXAMPLE_MODEL", "claude-haiku-4-5")
    llm_server.rule([{"text": "A widget factory.\n\n- One\n- Two\n",
                      "usage": {"input_tokens": 120, "output_tokens": 30}}])  # fmt: skip
    registry = ProviderRegistry("anthropic:claude-sonnet-4-5")
    registry.register(AnthropicProvider(api_key="test", base_url=llm_server.anthropic_url))
    history = await fetch_history.fn(make_ctx([], manager), repo_path=str(repo))
    llm = StepLLM(registry, CallSite("job-1", "analyse", 1))
    try:
        result = await claude_analysis(history, fetch_survey.fn(repo_path=str(repo)), llm)
    finally:
        await registry.aclose()

    (request,) = llm_server.log()
    assert request["model"] == "claude-haiku-4-5" and request["stream"] is True
    assert "Document widget assembly" in request["user"]
    assert result["source"] == "claude"
    assert result["model"] == "claude-haiku-4-5"
    assert result["summary"] == "A widget factory."
    assert result["highlights"] == ["One", "Two"]
    assert result["usage"] == {"input_tokens": 120, "output_tokens": 30}
    assert result["cost_usd"] is not None and result["cost_usd"] > 0
    assert result["repo"]["name"] == "widgets"


def test_parse_reply_splits_summary_from_bullets() -> None:
    assert parse_reply("Line one.\nLine two.\n\n- a\n* b\n") == ("Line one. Line two.", ["a", "b"])


def test_the_workflow_takes_repo_path_and_max_commits_as_inputs() -> None:
    assert set(repo_brief.describe()["inputs"]["properties"]) == {"repo_path", "max_commits"}
    assert list(repo_brief.steps) == [
        "fetch_history", "fetch_survey", "analyse", "render_brief",
    ]  # fmt: skip
