"""The shapes of the tool plane: a listed tool and a call's result (DESIGN §20), and naming."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import ToolNotFoundError
from orchestrator.types import JSONValue


def split_name(name: str) -> tuple[str, str]:
    """``"git/git_log"`` → ``("git", "git_log")``.

    Raises:
        ToolNotFoundError: ``name`` is not ``server/tool``.
    """
    server, sep, tool = name.partition("/")
    if not sep or not server or not tool:
        raise ToolNotFoundError(
            f"{name!r} is not a tool name of the form server/tool", details={"tool": name}
        )
    return server, tool


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """A tool as listed.

    Attributes:
        name: ``server/tool``.
        server: The server's configured name.
        tool: The tool's own name on its server.
        description: The server's description of it.
        input_schema: Its arguments' JSON Schema.
    """

    name: str
    server: str
    tool: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "server", "description", "input_schema"}`` (``GET /v1/tools``)."""
        return {"name": self.name, "server": self.server, "description": self.description,
                "input_schema": self.input_schema}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool call's result.

    Attributes:
        tool: ``server/tool``.
        content: The MCP content blocks as JSON (``{"type": "text", "text": ...}``, ...).
        structured_content: The structured result, when the tool gives one.
        is_error: The tool reported an error (the call itself went through).
        duration_ms: How long the call took, in milliseconds.
        replayed: Answered from a durable-call record (a step's earlier attempt).
    """

    tool: str
    content: list[dict[str, Any]]
    structured_content: JSONValue = None
    is_error: bool = False
    duration_ms: float = 0.0
    replayed: bool = False

    @property
    def text(self) -> str:
        """The text blocks of ``content``, joined."""
        return "".join(str(b.get("text", "")) for b in self.content if b.get("type") == "text")

    @property
    def output(self) -> JSONValue:
        """The structured content when present, else :attr:`text` (DESIGN §20's tool output)."""
        return self.structured_content if self.structured_content is not None else self.text

    def to_dict(self) -> dict[str, Any]:
        """``{"tool", "content", "structured_content", "is_error", "duration_ms"}``."""
        return {"tool": self.tool, "content": self.content,
                "structured_content": self.structured_content, "is_error": self.is_error,
                "duration_ms": self.duration_ms}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, replayed: bool = False) -> ToolResult:
        """Rebuild a result from :meth:`to_dict`'s value."""
        return cls(
            tool=str(data["tool"]),
            content=list(data.get("content") or []),
            structured_content=data.get("structured_content"),
            is_error=bool(data.get("is_error")),
            duration_ms=float(data.get("duration_ms") or 0.0),
            replayed=replayed,
        )


__all__ = ["ToolInfo", "ToolResult", "split_name"]
