"""The ``repo_brief`` workflow: two parallel fetches, an analysis, a streamed Markdown brief.

::

    fetch_history ─┐
                   ├─> analyse ──> render_brief (streams)
    fetch_survey ──┘

Its inputs are ``repo_path`` (shared by both fetch steps, default ``"."``) and ``max_commits``
(default 30).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from sdk import StepContext, step, workflow

from .analysis import local_analysis
from .claude import claude_analysis, has_key, model_name
from .history import read_history
from .render import brief_chunks
from .repo import has_commits, resolve_repo_root
from .survey import survey_repository


@step(parallel=True)
async def fetch_history(
    ctx: StepContext, repo_path: str = ".", max_commits: int = 30
) -> list[dict[str, str]]:
    """The repository's last commits, read through ``ctx.tools`` (tool ``git/git_log`` of the
    `mcp-server-git` server configured in this example's ``mcp.yaml``).

    Args:
        ctx: The step context; its ``tools`` make the (durable, audited) MCP call.
        repo_path: A path inside a git working tree; the history is that of its top level.
        max_commits: How many commits to read, at least 1.

    Returns:
        ``{"sha", "author", "date", "message"}`` dicts, newest first; empty for a repository
        without commits.

    Raises:
        ValueError: `repo_path` is not a git repository, or `max_commits` is below 1.
        history.GitHistoryError: The server reported an error.
        orchestrator.errors.ToolError: The tool call failed (e.g. ``tool_timeout`` after the
            server's 30 s).
    """
    if max_commits < 1:
        raise ValueError(f"max_commits must be at least 1, got {max_commits}")
    root = await asyncio.to_thread(resolve_repo_root, repo_path)
    if not await asyncio.to_thread(has_commits, root):
        return []
    return await read_history(ctx.tools, root, max_commits)


@step(parallel=True)
def fetch_survey(repo_path: str = ".") -> dict[str, Any]:
    """A survey of the repository's tracked files (a sync step: it runs in a thread).

    Args:
        repo_path: A path inside a git working tree; the survey covers its top level.

    Returns:
        The survey of `survey.survey_repository`: file count, lines per language, largest
        files, top-level directories, README title.

    Raises:
        ValueError: `repo_path` is not a git repository.
    """
    return survey_repository(resolve_repo_root(repo_path))


@step(depends_on=[fetch_history, fetch_survey])
async def analyse(
    history: list[dict[str, str]], survey: dict[str, Any], ctx: StepContext
) -> dict[str, Any]:
    """Analyse the history and survey with Claude through ``ctx.llm``, or locally when no
    Anthropic key is configured (or the step runs outside a worker, without ``ctx.llm``).

    Args:
        history: The output of `fetch_history`.
        survey: The output of `fetch_survey`.
        ctx: The step context: progress events and ``ctx.llm``.

    Returns:
        ``{"source": "claude" | "local", "summary", "highlights", ...}`` with the facts the
        render step needs (``repo``, ``commit_count``, ``recent_commits``); a Claude analysis
        also carries ``model`` and ``usage``.

    Raises:
        orchestrator.llm.LLMError: The Claude call failed.
    """
    if has_key() and ctx.llm is not None:
        ctx.emit({"stage": "asking_claude", "model": model_name()})
        result = await claude_analysis(history, survey, ctx.llm)
    else:
        ctx.emit({"stage": "local_analysis"})
        result = local_analysis(history, survey)
    ctx.emit({"stage": "analysed", "source": result["source"]})
    return result


CHUNK_PACE_SECONDS = 0.06
"""Pause after each streamed chunk of the brief (about 2 s for a typical brief)."""


@step(depends_on=[analyse], streams=True)
async def render_brief(analysis: dict[str, Any], ctx: StepContext) -> AsyncIterator[str]:
    """Stream the Markdown brief, one line or short section per chunk.

    Args:
        analysis: The output of `analyse`.
        ctx: The step context (unused beyond the SDK's bookkeeping).

    Yields:
        Markdown chunks whose concatenation is the whole brief.
    """
    for chunk in brief_chunks(analysis):
        yield chunk
        # The brief is written at once, not produced token by token as a model's answer is;
        # a short pause per chunk lets `make run` show streaming as a reader sees it.
        await asyncio.sleep(CHUNK_PACE_SECONDS)


repo_brief = workflow("repo_brief", render_brief)
