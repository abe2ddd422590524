"""The Claude analysis: one call through ``ctx.llm`` (DESIGN §16).

Used when an Anthropic key is configured (``ORCH_LLM__ANTHROPIC_API_KEY`` or
``ANTHROPIC_API_KEY``). The call goes through the step's ``ctx.llm``: durable (a retried step
does not pay twice), metered (tokens and cost in ``llm_calls``) and under the tenant's budget.
The model is asked for a plain-text reply (a short paragraph, then ``- `` bullets) rather than
JSON, so any reply parses: bullets become highlights, the rest the summary.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .analysis import brief_facts

DEFAULT_MODEL = "claude-sonnet-4-5"
KEY_ENVS = ("ORCH_LLM__ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
MODEL_ENV = "ORCH_EXAMPLE_MODEL"
MAX_TOKENS = 1024

_INSTRUCTIONS = (
    "You are briefing an engineer who is new to this git repository. From the survey and the "
    "recent commits below, write one short paragraph (at most 80 words) on what the repository "
    "is and what is happening in it now, then 3 to 5 highlights, each on its own line starting "
    "with '- '. Plain text, no headings, no preamble."
)


def has_key() -> bool:
    """Whether an Anthropic key is configured (the settings' or the SDK's variable)."""
    return any(os.environ.get(name) for name in KEY_ENVS)


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
    history: list[dict[str, str]], survey: dict[str, Any], llm: Any
) -> dict[str, Any]:
    """Ask Claude for a short analysis of the repository.

    Args:
        history: Commits newest first, as ``{"sha", "author", "date", "message"}``.
        survey: The survey from `survey.survey_repository`.
        llm: The step's ``ctx.llm`` (:class:`orchestrator.llm.StepLLM`).

    Returns:
        ``{"source": "claude", "model", "summary", "highlights", "usage": {"input_tokens",
        "output_tokens"}, "cost_usd"}`` plus the `analysis.brief_facts`.

    Raises:
        orchestrator.llm.LLMError: The call failed (``llm_rate_limited``, ``llm_unavailable``,
            ...); the step's retries decide what follows.
        orchestrator.llm.BudgetExceededError: The tenant's LLM budget is spent.
    """
    result = await llm.complete(
        [{"role": "user", "content": build_prompt(history, survey)}],
        model=f"anthropic:{model_name()}",
        max_tokens=MAX_TOKENS,
    )
    summary, highlights = parse_reply(result.text)
    return {
        "source": "claude",
        "model": result.model.partition(":")[2],
        "summary": summary,
        "highlights": highlights,
        "usage": {
            "input_tokens": result.usage.input_tokens,
            "output_tokens": result.usage.output_tokens,
        },
        "cost_usd": result.cost_usd,
        **brief_facts(history, survey),
    }
