"""Locating a git repository and running read-only git commands in it.

Both fetch steps start here, so a path that is not a repository fails the same way in each: a
`ValueError` naming the path the caller gave.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT_SECONDS = 30.0
"""Upper bound on one git command; `git ls-files` on a large monorepo stays well under it."""


def run_git(root: Path, *args: str, timeout_seconds: float = GIT_TIMEOUT_SECONDS) -> str:
    """Run ``git <args>`` in `root` and return its stdout.

    Args:
        root: The directory git runs in.
        *args: The git arguments, e.g. ``("ls-files", "-z")``.
        timeout_seconds: How long the command may take.

    Returns:
        The command's standard output, decoded as UTF-8 (undecodable bytes replaced).

    Raises:
        subprocess.CalledProcessError: git exited non-zero.
        subprocess.TimeoutExpired: git took longer than `timeout_seconds`.
    """
    completed = subprocess.run(
        ["git", *args],
        cwd=root,
        capture_output=True,
        check=True,
        timeout=timeout_seconds,
    )
    return completed.stdout.decode("utf-8", errors="replace")


def resolve_repo_root(repo_path: str) -> Path:
    """The top-level directory of the working tree that contains `repo_path`.

    Works like ``git rev-parse --show-toplevel``, so a subdirectory of a repository resolves to
    the repository's root.

    Args:
        repo_path: A path inside a git working tree; relative paths are taken from the current
            directory.

    Returns:
        The absolute, resolved root of the working tree.

    Raises:
        ValueError: `repo_path` does not exist, or is not inside a git working tree.
    """
    path = Path(repo_path).expanduser()
    if not path.is_dir():
        raise ValueError(f"repo_path {repo_path!r} is not a directory")
    try:
        top = run_git(path.resolve(), "rev-parse", "--show-toplevel").strip()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise ValueError(f"repo_path {repo_path!r} is not a git repository") from exc
    if not top:
        raise ValueError(f"repo_path {repo_path!r} is not a git repository")
    return Path(top).resolve()


def has_commits(root: Path) -> bool:
    """Whether the repository at `root` has at least one commit on HEAD.

    Args:
        root: A repository root, as returned by `resolve_repo_root`.

    Returns:
        False for a freshly initialised repository (HEAD names an unborn branch).
    """
    try:
        run_git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except subprocess.CalledProcessError:
        return False
    return True
