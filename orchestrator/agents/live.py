"""An agent's final reply shown as the model writes it (``agent.reply_delta`` events).

The model answers each turn with the ``envelope`` tool, whose arguments arrive as pieces of JSON
text (:class:`~orchestrator.llm.base.ToolInputDelta`). :class:`LiveReply` keeps the pieces of
the turn, parses what has arrived with jiter's partial mode (incomplete strings included), and,
once the envelope says ``"type": "reply"``, publishes each new stretch of its ``content``. A
reply that turns out to be a question (``ask``) publishes nothing more once ``ask`` appears.
A replayed turn sends no pieces, so it publishes nothing again.
"""

from __future__ import annotations

from collections.abc import Callable

import jiter

from orchestrator.agents.envelope import ENVELOPE_TOOL

PARSE_EVERY_CHARS = 24
"""The arguments are parsed again once this many characters arrived since the last parse (a
parse reads the whole text so far: parsing at every piece would be quadratic in pieces)."""


class LiveReply:
    """Publishes a reply envelope's ``content`` while the model writes it.

    Args:
        publish: Called with each new stretch of the content (in order; joined, they are a
            prefix of the final content).
    """

    def __init__(self, publish: Callable[[str], None]) -> None:
        self._publish = publish
        self._text = ""
        self._parsed_at = 0
        self._off = False
        self.published = ""
        """The content published so far."""

    def feed(self, tool: str, piece: str) -> None:
        """Take one piece of a tool use's arguments (``StepLLM.complete``'s ``on_tool_input``)."""
        if tool != ENVELOPE_TOOL or self._off:
            return
        self._text += piece
        if len(self._text) - self._parsed_at >= PARSE_EVERY_CHARS:
            self._parse()

    def finish(self, content: str) -> None:
        """The turn's reply is final: publish what of ``content`` was not published yet."""
        if not self._off and content.startswith(self.published) and content != self.published:
            self._send(content)

    def _parse(self) -> None:
        self._parsed_at = len(self._text)
        try:
            data = jiter.from_json(self._text.encode(), partial_mode="trailing-strings")
        except ValueError:
            return  # not parseable yet (e.g. cut inside a number); a later piece will be
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str):
            return
        if kind != "reply":
            self._off = not "reply".startswith(kind)  # "re" may still become "reply"
            return
        if data.get("ask"):
            self._off = True  # a question, not the answer
            return
        content = data.get("content")
        if isinstance(content, str) and len(content) > len(self.published):
            self._send(content)

    def _send(self, content: str) -> None:
        self._publish(content[len(self.published) :])
        self.published = content


__all__ = ["PARSE_EVERY_CHARS", "LiveReply"]
