"""The Markdown brief, as a sequence of small chunks (one line or short section each).

Chunks concatenate to the whole document, so a client that prints them as they arrive shows the
brief growing, and the checkpointed output (their concatenation, DESIGN §2) is plain Markdown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _cell(text: object) -> str:
    """A value made safe for a Markdown table cell (pipes escaped, newlines flattened)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _analysed_by(analysis: dict[str, Any]) -> str:
    if analysis.get("source") == "claude":
        return f"_Analysis by Claude ({analysis.get('model', 'unknown model')})._\n\n"
    return "_Local analysis: no model was called._\n\n"


def brief_chunks(analysis: dict[str, Any]) -> Iterator[str]:
    """Yield the Markdown brief for an analysis, chunk by chunk.

    Args:
        analysis: The output of the ``analyse`` step: ``source``, ``summary``, ``highlights``
            and the facts of `analysis.brief_facts` (``repo``, ``commit_count``,
            ``recent_commits``).

    Yields:
        Non-empty strings: heading, overview, languages table rows, one recent commit per
        chunk, highlights, layout. Each ends with a newline.
    """
    repo = analysis.get("repo", {})
    yield f"# Repository brief: {repo.get('name', 'repository')}\n\n"
    if repo.get("readme_title"):
        yield f"> {repo['readme_title']}\n\n"
    yield "## Overview\n\n"
    yield f"{analysis.get('summary', '')}\n\n"
    yield _analysed_by(analysis)
    yield (
        f"Tracked files: {repo.get('file_count', 0)}. Lines: {repo.get('total_lines', 0)}. "
        f"Commits read: {analysis.get('commit_count', 0)}.\n\n"
    )
    languages = repo.get("languages") or []
    if languages:
        yield "## Languages\n\n"
        yield "| Language | Files | Lines |\n|---|---:|---:|\n"
        for lang in languages:
            yield f"| {_cell(lang['language'])} | {lang['files']} | {lang['lines']} |\n"
        yield "\n"
    commits = analysis.get("recent_commits") or []
    if commits:
        yield "## Recent commits\n\n"
        for commit in commits:
            yield (
                f"- `{commit['short_sha']}` {commit['date'][:10]} {commit['subject']} "
                f"({commit['author']})\n"
            )
        yield "\n"
    highlights = analysis.get("highlights") or []
    if highlights:
        yield "## Highlights\n\n"
        for highlight in highlights:
            yield f"- {highlight}\n"
        yield "\n"
    dirs = repo.get("top_level_dirs") or []
    largest = repo.get("largest_files") or []
    if dirs or largest:
        yield "## Layout\n\n"
        if dirs:
            yield f"Top-level directories: {', '.join(f'`{d}/`' for d in dirs)}\n\n"
        if largest:
            yield (
                "Largest files: "
                + ", ".join(f"`{f['path']}` ({f['bytes']} bytes)" for f in largest)
                + "\n"
            )
