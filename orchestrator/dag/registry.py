"""The workflow registry: workflows found in the modules named by ``ORCH_WORKFLOWS``."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Iterator

from orchestrator.dag.workflow import Workflow
from orchestrator.errors import ConfigError, DagError, WorkflowNotFoundError


class WorkflowRegistry:
    """Workflows by name; built once per process and passed down."""

    def __init__(self, workflows: Iterable[Workflow] = ()) -> None:
        self._workflows: dict[str, Workflow] = {}
        for wf in workflows:
            self.register(wf)

    def register(self, wf: Workflow) -> None:
        """Add ``wf``; registering the same object twice is a no-op.

        Raises:
            DagError: Another workflow already has that name.
        """
        known = self._workflows.get(wf.name)
        if known is not None and known is not wf:
            raise DagError(
                f"two workflows are named {wf.name!r}", details={"workflow": wf.name}
            )
        self._workflows[wf.name] = wf

    def get(self, name: str) -> Workflow:
        """Return the workflow called ``name``.

        Raises:
            WorkflowNotFoundError: None is registered under that name.
        """
        try:
            return self._workflows[name]
        except KeyError:
            raise WorkflowNotFoundError(
                f"no workflow named {name!r}",
                details={"workflow": name, "known": sorted(self._workflows)},
            ) from None

    def __iter__(self) -> Iterator[Workflow]:
        return iter(self._workflows.values())

    def __len__(self) -> int:
        return len(self._workflows)

    @classmethod
    def from_modules(cls, module_paths: Iterable[str]) -> WorkflowRegistry:
        """Import each module and register every :class:`Workflow` among its attributes.

        The current directory is put on ``sys.path`` first (as ``uvicorn`` does), so
        ``ORCH_WORKFLOWS=myapp.flows`` works from a project's root.

        Args:
            module_paths: Dotted module paths, e.g. ``["examples.repo_brief"]``.

        Raises:
            ConfigError: A module cannot be imported.
            DagError: A workflow in it is invalid.
        """
        cwd = os.getcwd()
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
        registry = cls()
        for path in module_paths:
            try:
                module = importlib.import_module(path)
            except ImportError as exc:
                raise ConfigError(
                    f"cannot import workflow module {path!r} (ORCH_WORKFLOWS): {exc}",
                    details={"module": path},
                ) from exc
            for value in vars(module).values():
                if isinstance(value, Workflow):
                    registry.register(value)
        return registry


__all__ = ["WorkflowRegistry"]
