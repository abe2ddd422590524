"""A repository's commit history, read through the `mcp-server-git` MCP server (tool ``git/git_log``).

The step does not open an MCP client itself: it calls ``ctx.tools`` (the orchestrator's MCP
manager, which runs the server configured as ``git`` in this example's ``mcp.yaml`` and keeps
it open between calls), so the call is governed, audited and durable. The reply is plain text,
one entry per commit in the format of ``mcp_server_git.server.git_log``::

    Commit: <40-hex sha>
    Author: <name>
    Date: <authored datetime, "YYYY-MM-DD HH:MM:SS+HH:MM">
    Message: <full message, possibly several lines>

`parse_git_log` turns that text into ``{"sha", "author", "date", "message"}`` dicts.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

GIT_LOG_TOOL = "git/git_log"
"""The tool: server ``git`` of ``mcp.yaml``, tool ``git_log``."""

_ENTRY_HEADER = re.compile(
    r"^Commit: (?P<sha>[0-9a-f]{40,64})\nAuthor: (?P<author>.*)\nDate: (?P<date>.*)\nMessage: ",
    re.MULTILINE,
)


class GitHistoryError(RuntimeError):
    """The git MCP server could not produce the history (its message says why)."""


def _iso_date(raw: str) -> str:
    """``2024-01-02 03:04:05+02:00`` as ISO 8601 (``2024-01-02T03:04:05+02:00``); else unchanged."""
    try:
        return datetime.fromisoformat(raw.strip()).isoformat()
    except ValueError:
        return raw.strip()


def parse_git_log(text: str) -> list[dict[str, str]]:
    """Parse the text of a ``git_log`` tool result into commits, newest first.

    An entry's message runs from its ``Message:`` line to the next entry header, so a multi-line
    message (subject, blank line, body) is kept whole, stripped of surrounding whitespace.

    Args:
        text: The tool result's text, e.g. ``"Commit history:\\nCommit: 1a2b...\\n..."``.

    Returns:
        One ``{"sha", "author", "date", "message"}`` dict per entry, in the server's order
        (newest first); ``date`` is ISO 8601 when the server's date parses as one.
    """
    headers = list(_ENTRY_HEADER.finditer(text))
    commits: list[dict[str, str]] = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        commits.append(
            {
                "sha": header["sha"],
                "author": header["author"].strip(),
                "date": _iso_date(header["date"]),
                "message": text[header.end() : end].strip(),
            }
        )
    return commits


async def read_history(tools: Any, root: Path, max_commits: int) -> list[dict[str, str]]:
    """Read the last `max_commits` commits of the repository at `root` through ``ctx.tools``.

    Args:
        tools: The step's ``ctx.tools`` (:class:`orchestrator.mcp.step.StepTools`).
        root: The repository's top-level directory (see `repo.resolve_repo_root`).
        max_commits: How many commits to ask for (the tool's ``max_count``), at least 1.

    Returns:
        The commits, newest first, as parsed by `parse_git_log`.

    Raises:
        GitHistoryError: The server reported an error for the ``git_log`` call.
        orchestrator.errors.ToolError: The call could not be made (``tool_not_found`` when no
            ``git`` server is configured, ``tool_timeout``, ``mcp_unavailable``, ...).
    """
    if tools is None:
        raise GitHistoryError("no MCP tools in this context (ctx.tools is None): run the step "
                              "in a worker, with the `git` server of examples/repo_brief/mcp.yaml")
    result = await tools.call(GIT_LOG_TOOL, repo_path=str(root), max_count=max_commits)
    if result.is_error:
        raise GitHistoryError(f"git_log failed for {root}: {result.text}")
    return parse_git_log(result.text)
