"""A repository's commit history, read through the `mcp-server-git` MCP server over stdio.

The server (``python -m mcp_server_git --repository <root>``) is started as a child process for
one session: initialize, one ``git_log`` tool call, exit. Its reply is plain text, one entry per
commit in the format of ``mcp_server_git.server.git_log``::

    Commit: <40-hex sha>
    Author: <name>
    Date: <authored datetime, "YYYY-MM-DD HH:MM:SS+HH:MM">
    Message: <full message, possibly several lines>

`parse_git_log` turns that text into ``{"sha", "author", "date", "message"}`` dicts.
"""

from __future__ import annotations

import re
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import TextContent

MCP_TIMEOUT_SECONDS = 30.0
"""Upper bound on the whole MCP session: server start-up, handshake, the tool call and shutdown."""

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


def _result_text(content: list[object]) -> str:
    """The concatenated text blocks of a tool result."""
    return "".join(block.text for block in content if isinstance(block, TextContent))


async def read_history(
    root: Path, max_commits: int, *, timeout_seconds: float = MCP_TIMEOUT_SECONDS
) -> list[dict[str, str]]:
    """Read the last `max_commits` commits of the repository at `root` via `mcp-server-git`.

    Args:
        root: The repository's top-level directory (see `repo.resolve_repo_root`); the server is
            confined to it with ``--repository``.
        max_commits: How many commits to ask for (the tool's ``max_count``), at least 1.
        timeout_seconds: Upper bound on the whole session, server start-up included.

    Returns:
        The commits, newest first, as parsed by `parse_git_log`.

    Raises:
        GitHistoryError: The server reported an error for the ``git_log`` call.
        TimeoutError: The session took longer than `timeout_seconds`.
        OSError: The server process could not be started.
    """
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server_git", "--repository", str(root)],
    )
    # The server's stderr goes to a file rather than ours: it is quoted in an error, not mixed
    # into the worker's log stream.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errlog:
        with anyio.fail_after(timeout_seconds):
            async with (
                stdio_client(params, errlog=errlog) as (read_stream, write_stream),
                ClientSession(
                    read_stream, write_stream, read_timeout_seconds=timeout_seconds
                ) as session,
            ):
                await session.initialize()
                result = await session.call_tool(
                    "git_log", {"repo_path": str(root), "max_count": max_commits}
                )
        text = _result_text(list(result.content))
        if result.is_error:
            errlog.seek(0)
            stderr_tail = errlog.read()[-2000:].strip()
            detail = f" (server stderr: {stderr_tail})" if stderr_tail else ""
            raise GitHistoryError(f"git_log failed for {root}: {text}{detail}")
    return parse_git_log(text)
