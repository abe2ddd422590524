"""A survey of a repository's tracked files: counts, lines per language, sizes, layout.

Only files that git tracks (``git ls-files``) are read, so build output and virtualenvs are
ignored without any list of exclusions. Every list is sorted, so the same tree always gives the
same survey.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from .repo import run_git

TOP_LANGUAGES = 10
LARGEST_FILES = 5
MAX_READ_BYTES = 5_000_000
"""Files above this size are counted by size only: reading them for line counts costs too much."""

_BINARY_PROBE_BYTES = 8192
_README_NAMES = ("README.md", "README.rst", "README.txt", "README")

_LANGUAGES = {
    ".py": "Python", ".pyi": "Python", ".js": "JavaScript", ".mjs": "JavaScript",
    ".ts": "TypeScript", ".tsx": "TypeScript", ".jsx": "JavaScript", ".go": "Go", ".rs": "Rust",
    ".java": "Java", ".kt": "Kotlin", ".c": "C", ".h": "C", ".cc": "C++", ".cpp": "C++",
    ".hpp": "C++", ".cs": "C#", ".rb": "Ruby", ".php": "PHP", ".swift": "Swift", ".sh": "Shell",
    ".bash": "Shell", ".md": "Markdown", ".rst": "reStructuredText", ".txt": "Text",
    ".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON", ".ini": "INI",
    ".cfg": "INI", ".html": "HTML", ".css": "CSS", ".sql": "SQL", ".tpl": "Go template",
    ".mako": "Mako", ".dockerfile": "Dockerfile",
}  # fmt: skip
_NAMED_FILES = {"Makefile": "Makefile", "Dockerfile": "Dockerfile", "Justfile": "Just"}


def language_of(path: str) -> str:
    """The language a tracked file counts under: by well-known name, then by extension.

    Args:
        path: A repository-relative path with ``/`` separators.

    Returns:
        A language name (``"Python"``), else the lower-cased extension (``".lock"``), else
        ``"(no extension)"``.
    """
    name = path.rsplit("/", 1)[-1]
    if name in _NAMED_FILES:
        return _NAMED_FILES[name]
    suffix = Path(name).suffix.lower()
    if not suffix:
        return "(no extension)"
    return _LANGUAGES.get(suffix, suffix)


def count_lines(data: bytes) -> int | None:
    """Lines in a file's content, or None when the content looks binary (a NUL byte early on).

    A last line without a trailing newline still counts.
    """
    if b"\0" in data[:_BINARY_PROBE_BYTES]:
        return None
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def readme_title(root: Path) -> str | None:
    """The title of the README at `root`: its first Markdown heading, else its first line.

    Args:
        root: The repository's top-level directory.

    Returns:
        The title without heading markers, or None when there is no README or it is empty.
    """
    for name in _README_NAMES:
        readme = root / name
        if not readme.is_file():
            continue
        lines = [line.strip() for line in readme.read_text(errors="replace").splitlines()]
        lines = [line for line in lines if line]
        for line in lines:
            heading = re.match(r"#+\s+(.*)", line)
            if heading and heading[1].strip():
                return heading[1].strip("# ").strip()
        return lines[0] if lines else None
    return None


def survey_repository(root: Path) -> dict[str, Any]:
    """Survey the tracked files of the repository at `root`.

    Args:
        root: The repository's top-level directory (see `repo.resolve_repo_root`).

    Returns:
        ``{"name", "root", "file_count", "total_lines", "languages", "largest_files",
        "top_level_dirs", "readme_title"}``. ``languages`` is the top 10 of
        ``{"language", "files", "lines"}`` by lines (then name); ``largest_files`` the top 5 of
        ``{"path", "bytes", "lines"}`` by size (then path), ``lines`` None for binary or very
        large files; ``top_level_dirs`` sorted. Tracked paths missing from the working tree
        (deleted, submodules) are skipped.

    Raises:
        subprocess.CalledProcessError: ``git ls-files`` failed.
        subprocess.TimeoutExpired: ``git ls-files`` timed out.
    """
    paths = sorted(p for p in run_git(root, "ls-files", "-z").split("\0") if p)
    files = lines_total = 0
    by_language: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sizes: list[dict[str, Any]] = []
    top_dirs: set[str] = set()
    for rel in paths:
        full = root / rel
        if full.is_symlink() or not full.is_file():
            continue
        size = full.stat().st_size
        lines = count_lines(full.read_bytes()) if size <= MAX_READ_BYTES else None
        files += 1
        lines_total += lines or 0
        tally = by_language[language_of(rel)]
        tally[0] += 1
        tally[1] += lines or 0
        sizes.append({"path": rel, "bytes": size, "lines": lines})
        if "/" in rel:
            top_dirs.add(rel.split("/", 1)[0])
    languages = [
        {"language": lang, "files": count, "lines": n}
        for lang, (count, n) in sorted(by_language.items(), key=lambda kv: (-kv[1][1], kv[0]))
    ]
    return {
        "name": root.name,
        "root": str(root),
        "file_count": files,
        "total_lines": lines_total,
        "languages": languages[:TOP_LANGUAGES],
        "largest_files": sorted(sizes, key=lambda f: (-f["bytes"], f["path"]))[:LARGEST_FILES],
        "top_level_dirs": sorted(top_dirs),
        "readme_title": readme_title(root),
    }
