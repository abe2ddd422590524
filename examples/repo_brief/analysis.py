"""The facts a brief is built from, and the deterministic local analysis of them.

`brief_facts` condenses the history and the survey into what `render` needs (the render step
receives only the analysis, DESIGN §2's binding rules). `local_analysis` is the mode used when no
``ANTHROPIC_API_KEY`` is set: it says so, and the same input always gives the same output.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

RECENT_COMMITS = 10
TOP_AUTHORS = 3
TOP_THEMES = 5
LOCAL_PREFIX = "Local summary (no ANTHROPIC_API_KEY set): "

_STOPWORDS = frozenset(
    "a an and as at be by for from in into is it of on or the to with without this that "
    "add adds added fix fixes fixed update updates updated use uses make makes remove removes "
    "bump merge pull request branch wip more less new initial commit".split()
)


def _count(n: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def subject(message: str) -> str:
    """A commit message's subject: its first line."""
    return message.strip().split("\n", 1)[0].strip()


def brief_facts(history: list[dict[str, str]], survey: dict[str, Any]) -> dict[str, Any]:
    """The repository facts every analysis carries for the render step.

    Args:
        history: Commits newest first, as ``{"sha", "author", "date", "message"}``.
        survey: The survey from `survey.survey_repository`.

    Returns:
        ``{"repo": {name, file_count, total_lines, languages, largest_files, top_level_dirs,
        readme_title}, "commit_count", "recent_commits": [{"sha", "short_sha", "author", "date",
        "subject"}]}`` with at most 10 recent commits.
    """
    repo_keys = (
        "name", "file_count", "total_lines", "languages", "largest_files", "top_level_dirs",
        "readme_title",
    )  # fmt: skip
    return {
        "repo": {key: survey.get(key) for key in repo_keys},
        "commit_count": len(history),
        "recent_commits": [
            {
                "sha": commit["sha"],
                "short_sha": commit["sha"][:7],
                "author": commit["author"],
                "date": commit["date"],
                "subject": subject(commit["message"]),
            }
            for commit in history[:RECENT_COMMITS]
        ],
    }


def top_authors(history: list[dict[str, str]], limit: int = TOP_AUTHORS) -> list[tuple[str, int]]:
    """The most frequent commit authors as ``(name, commits)``, most first, ties by name."""
    counts = Counter(commit["author"] for commit in history)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def themes(history: list[dict[str, str]], limit: int = TOP_THEMES) -> list[str]:
    """The most frequent words of the commit subjects, most first, ties alphabetically.

    Words are lower-cased runs of letters (three or more); common verbs of commit messages
    (add, fix, update, ...) and English stopwords are left out.
    """
    words = Counter(
        word
        for commit in history
        for word in re.findall(r"[a-z][a-z]{2,}", subject(commit["message"]).lower())
        if word not in _STOPWORDS
    )
    return [word for word, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def local_analysis(history: list[dict[str, str]], survey: dict[str, Any]) -> dict[str, Any]:
    """A deterministic analysis made without a model, saying that it is one.

    Args:
        history: Commits newest first, as ``{"sha", "author", "date", "message"}``.
        survey: The survey from `survey.survey_repository`.

    Returns:
        ``{"source": "local", "summary", "highlights"}`` plus the `brief_facts`. The summary
        starts with ``"Local summary (no ANTHROPIC_API_KEY set): "``.
    """
    authors = top_authors(history)
    recurring = themes(history)
    languages = [lang["language"] for lang in survey.get("languages", [])[:3]]
    repo_name = survey.get("name", "The repository")
    sentences = [
        f"{repo_name} tracks {_count(survey.get('file_count', 0), 'file')} "
        f"({_count(survey.get('total_lines', 0), 'line')})"
        + (f", mostly {', '.join(languages)}." if languages else ".")
    ]
    if history:
        days = sorted(commit["date"][:10] for commit in history)
        sentences.append(
            f"Commits read: {len(history)}, from {days[0]} to {days[-1]}, "
            f"by {', '.join(author for author, _ in authors)}."
        )
    else:
        sentences.append("It has no commits yet.")
    if recurring:
        sentences.append(f"Recurring themes: {', '.join(recurring)}.")
    highlights: list[str] = []
    if authors:
        name, count = authors[0]
        highlights.append(
            f"Most active author: {name} ({count} of {_count(len(history), 'commit')})"
        )
    if survey.get("languages"):
        lang = survey["languages"][0]
        highlights.append(
            f"Main language: {lang['language']} "
            f"({_count(lang['lines'], 'line')} in {_count(lang['files'], 'file')})"
        )
    if survey.get("largest_files"):
        big = survey["largest_files"][0]
        highlights.append(f"Largest file: {big['path']} ({big['bytes']} bytes)")
    if history:
        highlights.append(f"Latest commit: {subject(history[0]['message'])}")
    return {
        "source": "local",
        "summary": LOCAL_PREFIX + " ".join(sentences),
        "highlights": highlights,
        **brief_facts(history, survey),
    }
