"""``repo_brief``: a brief of a git repository, from its history (via MCP) and its files.

Register it with ``ORCH_WORKFLOWS=examples.repo_brief``; see README.md in this folder.
"""

from .flow import analyse, fetch_history, fetch_survey, render_brief, repo_brief

__all__ = ["analyse", "fetch_history", "fetch_survey", "render_brief", "repo_brief"]
