"""Finding the runner behind ``Workflow.run_local`` without importing the worker (DESIGN §1).

``orchestrator`` must not import ``worker``; the worker's executor is what runs a step DAG. The
worker package announces its local runner as the ``agent_orchestrator.local_runner`` entry point
(pyproject.toml), and this module loads it on first use, as pytest finds its plugins.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from orchestrator.errors import ConfigError

GROUP = "agent_orchestrator.local_runner"


@functools.cache
def local_runner() -> Callable[..., Any]:
    """The installed local runner (``worker.local:run_local``).

    Raises:
        ConfigError: None is installed (the package is not installed: ``make install``).
    """
    found = sorted(entry_points(group=GROUP), key=lambda ep: ep.name)
    if not found:
        raise ConfigError(
            f"no local runner is installed (entry point group {GROUP!r}): install the "
            "agent-orchestrator package (`make install` or `pip install -e .`)",
            details={"entry_point_group": GROUP},
        )
    runner: Callable[..., Any] = found[0].load()
    return runner


__all__ = ["GROUP", "local_runner"]
