"""The agent registry: built-in agents, the entry point group ``orchestrator.agents``, and the
modules named by ``ORCH_AGENTS__MODULES`` (DESIGN §17). Adding an agent changes neither the API
nor the worker: install a package declaring the entry point, or name a module in settings.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from orchestrator.agents.base import Agent
from orchestrator.agents.builtin import CodeAgent, ContentAgent
from orchestrator.agents.errors import AgentNotFoundError
from orchestrator.errors import ConfigError

ENTRY_POINT_GROUP = "orchestrator.agents"


class AgentRegistry:
    """Agents by name, in registration order."""

    def __init__(self, agents: Iterable[Agent] = ()) -> None:
        self._agents: dict[str, Agent] = {}
        for agent in agents:
            self.register(agent)

    def register(self, agent: Agent) -> None:
        """Add ``agent``; a later agent of the same name replaces an earlier one (a plugin may
        override a built-in).

        Raises:
            ConfigError: ``agent`` lacks an attribute of the :class:`Agent` protocol.
        """
        if isinstance(agent, type) or not isinstance(agent, Agent):
            raise ConfigError(f"{agent!r} is not an agent (see orchestrator.agents.base.Agent)",
                              details={"agent": repr(agent)})  # fmt: skip
        self._agents[agent.name] = agent

    def get(self, name: str) -> Agent:
        """The agent called ``name``.

        Raises:
            AgentNotFoundError: None is registered under that name.
        """
        try:
            return self._agents[name]
        except KeyError:
            raise AgentNotFoundError(f"no agent named {name!r}",
                                     details={"agent": name, "known": self.names()}) from None  # fmt: skip

    def names(self) -> list[str]:
        """Registered names, in order."""
        return list(self._agents)

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def __iter__(self) -> Iterator[Agent]:
        return iter(self._agents.values())

    def __len__(self) -> int:
        return len(self._agents)

    @classmethod
    def load(cls, modules: Iterable[str] = (), *, entry_point_group: str = ENTRY_POINT_GROUP
             ) -> AgentRegistry:  # fmt: skip
        """The built-ins, then the entry points' agents, then the modules' agents.

        An entry point names an agent object, an agent class (instantiated without arguments)
        or a list of agents. A module contributes its ``AGENTS`` list when it has one, else
        every agent object among its attributes.

        Raises:
            ConfigError: A module or entry point cannot be loaded, or is not an agent.
        """
        registry = cls([ContentAgent(), CodeAgent()])
        for ep in entry_points(group=entry_point_group):
            try:
                loaded = ep.load()
            except Exception as exc:
                raise ConfigError(f"cannot load agent entry point {ep.name!r}: {exc}",
                                  details={"entry_point": ep.name}) from exc  # fmt: skip
            for agent in _agents_of(loaded):
                registry.register(agent)
        cwd = os.getcwd()
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
        for path in modules:
            try:
                module = importlib.import_module(path)
            except ImportError as exc:
                raise ConfigError(
                    f"cannot import agent module {path!r} (ORCH_AGENTS__MODULES): {exc}",
                    details={"module": path},
                ) from exc
            for agent in _module_agents(module):
                registry.register(agent)
        return registry


def _agents_of(value: Any) -> list[Agent]:
    if isinstance(value, type):
        value = value()
    if isinstance(value, list | tuple):
        return [a for v in value for a in _agents_of(v)]
    return [value]


def _module_agents(module: ModuleType) -> list[Agent]:
    listed = getattr(module, "AGENTS", None)
    if listed is not None:
        return _agents_of(listed)
    return [v for v in vars(module).values() if not isinstance(v, type) and isinstance(v, Agent)]


__all__ = ["ENTRY_POINT_GROUP", "AgentRegistry"]
