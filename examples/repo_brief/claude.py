"""The Claude analysis: one Messages API call through the `anthropic` SDK.

Used when ``ANTHROPIC_API_KEY`` is set. The model is asked for a plain-text reply (a short
paragraph, then ``- `` bullets) rather than JSON, so any reply parses: bullets become highlights,
the rest the summary.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from anthropic import AsyncAnthropic

from .analysis import brief_facts

DEFAULT_MODEL = "claude-sonnet-4-5"
MODEL_ENV = "ORCH_EXAMPLE_MODEL"
MAX_TOKENS = 1024
CLAUDE_TIMEOUT_SECONDS = 60.0
"""Upper bound on the call, retries included; a 1,024-token reply takes well under it."""

_INSTRUCTIONS = (
    "You are briefing an engineer who is new to this git repository. From the survey and the "
    "recent commits below, write one short paragraph (at most 80 words) on what the repository "
    "is and what is happening in it now, then 3 to 5 highlights, each on its own line starting "
    "with '- '. Plain text, no headings, no preamble."
)


def model_name() -> str:
    """The model to ask: ``$ORCH_EXAMPLE_MODEL``, else ``claude-sonnet-4-5``."""
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def build_prompt(history: list[dict[str, str]], survey: dict[str, Any]) -> str:
    """The user message: instructions, then the facts as JSON (recent commits and the survey)."""
    facts = brief_facts(history, survey)
    payload = {"survey": facts["repo"], "recent_commits": facts["recent_commits"]}
    return f"{_INSTRUCTIONS}\n\n{json.dumps(payload, indent=1, sort_keys=True)}"


def parse_reply(text: str) -> tuple[str, list[str]]:
    """Split a reply into its summary (non-bullet lines, joined) and highlights (``- `` lines)."""
    summary: list[str] = []
    highlights: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("- ", "* ")):
            highlights.append(line[2:].strip())
        elif line:
            summary.append(line)
    return " ".join(summary), highlights


async def claude_analysis(
    history: list[dict[str, str]],
    survey: dict[str, Any],
    *,
    client: AsyncAnthropic | None = None,
    timeout_seconds: float = CLAUDE_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Ask Claude for a short analysis of the repository.

    Args:
        history: Commits newest first, as ``{"sha", "author", "date", "message"}``.
        survey: The survey from `survey.survey_repository`.
        client: The client to use; by default one built from ``ANTHROPIC_API_KEY`` and closed
            after the call.
        timeout_seconds: Upper bound on the call.

    Returns:
        ``{"source": "claude", "model", "summary", "highlights", "usage": {"input_tokens",
        "output_tokens"}}`` plus the `analysis.brief_facts`.

    Raises:
        anthropic.APIError: The API refused or failed the request.
        TimeoutError: No reply within `timeout_seconds`.
    """
    model = model_name()
    owned = client is None
    api = client or AsyncAnthropic(timeout=timeout_seconds, max_retries=2)
    try:
        async with asyncio.timeout(timeout_seconds):
            message = await api.messages.create(
                model=model,
                max_tokens=MAX_TOKENS,
                messages=[{"role": "user", "content": build_prompt(history, survey)}],
            )
    finally:
        if owned:
            await api.close()
    text = "".join(block.text for block in message.content if block.type == "text")
    summary, highlights = parse_reply(text)
    return {
        "source": "claude",
        "model": message.model,
        "summary": summary,
        "highlights": highlights,
        "usage": {
            "input_tokens": message.usage.input_tokens,
            "output_tokens": message.usage.output_tokens,
        },
        **brief_facts(history, survey),
    }
