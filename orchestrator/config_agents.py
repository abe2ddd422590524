"""The agent layer's settings sections (DESIGN §14-§18): ``mcp``, ``llm``, ``sessions``,
``tags`` and ``agents`` of :class:`orchestrator.config.Settings` (``ORCH_MCP__*``, ...).

Kept apart from the runtime's sections so that each module holds one concept; import them from
:mod:`orchestrator.config`, which re-exports them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from orchestrator.config_fields import split_csv


class McpTokenSettings(BaseModel):
    """How OAuth tokens of MCP servers are kept at rest.

    Without ``token_encryption_key`` the token manager refuses to store tokens (a one-line
    ``config_invalid`` error naming ``ORCH_MCP__TOKEN_ENCRYPTION_KEY``); servers with ``auth``
    ``none`` or ``bearer`` do not need it.
    """

    token_encryption_key: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet key(s) encrypting MCP OAuth tokens in PostgreSQL and Redis: comma-separated "
            "url-safe base64 keys of 32 bytes (`python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'`). The first key encrypts; all of them "
            "decrypt, so a key is rotated by putting the new one first."
        ),
    )


class McpSettings(McpTokenSettings):
    """The MCP tool plane (DESIGN §14, §20; docs/mcp.md), with the token manager's key."""

    config: str | None = Field(
        default=None,
        description="A YAML or JSON file holding `servers: [...]` (the Helm chart mounts one "
        "from a ConfigMap).",
    )
    servers: list[dict[str, Any]] = Field(
        default_factory=list,
        description='A JSON list of servers: {"name", "transport": "stdio"|"http", "command", '
        '"args", "env", "url", "auth": {"type": "none"|"bearer"|"oauth2", ...}, '
        '"timeout_seconds", "max_concurrency"}; validated at start-up.',
    )
    tools_cache_ttl_seconds: int = Field(
        default=300,
        ge=1,
        description="How long a server's tool list stays cached in Redis (orch:mcp:tools:"
        "{server}); a tools/list_changed notification refreshes it sooner.",
    )


class LLMBudget(BaseModel):
    """One spending limit (DESIGN §16): per tenant, optionally per user, per day or month (UTC)."""

    tenant: str = Field(description="Tenant id, or `*` for every tenant (each counted apart).")
    user: str | None = Field(
        default=None, description="Limit this user of the tenant only (`*`: each user apart)."
    )
    window: Literal["day", "month"] = Field(description="Calendar day or month, UTC.")
    max_cost_usd: float | None = Field(default=None, ge=0, description="Cost limit, USD.")
    max_tokens: int | None = Field(
        default=None, ge=0, description="Token limit (input + output + cache read + write)."
    )


class LLMWorkflowPolicy(BaseModel):
    """What a workflow's LLM calls do once a budget is spent."""

    policy: Literal["reject", "fallback_model"] = Field(
        default="reject",
        description="reject: the step fails (budget_exceeded, not retried); fallback_model: "
        "the call goes to `fallback_model` (said in a step.progress event and on the span).",
    )
    fallback_model: str | None = Field(
        default=None,
        description="Model reference used under fallback_model (default: llm.fallback_model).",
    )


class LLMSettings(BaseModel):
    """LLM calls inside steps: providers, keys, retries, budgets (DESIGN §16, §20)."""

    default_model: str = Field(
        default="anthropic:claude-sonnet-4-5",
        description="Model reference `provider:model` used when a call names none.",
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None, description="Anthropic API key; unset: ANTHROPIC_API_KEY."
    )
    anthropic_base_url: str | None = Field(
        default=None, description="Anthropic endpoint; unset: ANTHROPIC_BASE_URL or the SDK's."
    )
    openai_api_key: SecretStr | None = Field(
        default=None, description="OpenAI API key; unset: OPENAI_API_KEY."
    )
    openai_base_url: str | None = Field(
        default=None,
        description="Any OpenAI-compatible endpoint (vLLM, Ollama, LiteLLM), e.g. "
        "http://vllm:8000/v1; unset: OPENAI_BASE_URL or the SDK's.",
    )
    timeout_seconds: float = Field(
        default=120.0, gt=0, description="Timeout of one HTTP request to a provider."
    )
    max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="The SDKs' retries of 408/409/429/5xx (529), with backoff honouring the "
        "provider's retry-after; then the attempt fails llm_rate_limited / llm_unavailable.",
    )
    max_tokens: int = Field(default=1024, ge=1, description="Default max_tokens of a call.")
    budgets: list[LLMBudget] = Field(
        default_factory=list,
        description='JSON list of limits, e.g. [{"tenant": "*", "window": "day", '
        '"max_cost_usd": 20}]. Checked at submit (429 budget_exceeded) and before each call.',
    )
    budget_policy: Literal["reject", "fallback_model"] = Field(
        default="reject", description="What a call does over budget, unless its workflow says."
    )
    fallback_model: str | None = Field(
        default=None,
        description="The cheaper model reference of budget_policy=fallback_model, e.g. "
        "anthropic:claude-haiku-4-5.",
    )
    workflow_policies: dict[str, LLMWorkflowPolicy] = Field(
        default_factory=dict,
        description='JSON object workflow name -> {"policy", "fallback_model"}.',
    )
    record_flush_interval_seconds: float = Field(
        default=0.25, gt=0, description="How often a worker writes buffered llm_calls rows."
    )

    def policy_for(self, workflow: str) -> LLMWorkflowPolicy:
        """The budget policy of ``workflow``'s calls (its own, else the defaults)."""
        own = self.workflow_policies.get(workflow)
        if own is not None:
            return own
        return LLMWorkflowPolicy(policy=self.budget_policy, fallback_model=self.fallback_model)


class SessionsSettings(BaseModel):
    """Sessions: conversations that run tasks, stream, ask and resume (DESIGN §18)."""

    workflow: str = Field(
        default="agent",
        description="The workflow a session's messages run; it takes the inputs task, "
        "session_id and history (a list of {role, content} messages).",
    )
    ttl_seconds: int = Field(
        default=7200, ge=60, description="Lifetime of a session's live state in Redis after "
        "its last use (PostgreSQL keeps its history).",
    )  # fmt: skip


class TagsSettings(BaseModel):
    """Tags: tool policy and prompt content (DESIGN §15, docs/tags.md)."""

    default_policy: Literal["allow", "deny"] = Field(
        default="allow",
        description="What a principal gets for a tool no tag grants or denies: allow (a fresh "
        "install works) or deny (the Helm chart's production values).",
    )
    cache_ttl_seconds: int = Field(
        default=1800, ge=1, description="Lifetime of a cached effective policy in Redis."
    )
    generation_check_seconds: float = Field(
        default=0.25,
        gt=0,
        le=1,
        description="How long a process trusts its view of a tenant's tag generation: a tag "
        "change reaches running workers within about this long.",
    )
    org_admin_tenants: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated tenants whose tags may name other tenants in org_scope; "
        "any other tenant's org_scope may name only itself.",
    )

    @field_validator("org_admin_tenants", mode="before")
    @classmethod
    def _split_tenants(cls, value: Any) -> Any:
        return split_csv(value)


class AgentsSettings(BaseModel):
    """Agents: the router, the envelope engine's limits, extra agent modules (DESIGN §17, §20)."""

    min_confidence: float = Field(
        default=0.5, ge=0, le=1,
        description="Below this routing confidence a task fails unknown_task_type.",
    )  # fmt: skip
    router_model: str | None = Field(
        default=None, description="Model reference of the router's call (unset: llm.default_model)."
    )
    modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated module paths whose Agent objects (or AGENTS list) are "
        "registered beside the entry point group orchestrator.agents.",
    )
    max_turns: int = Field(default=12, ge=1, le=200, description="LLM turns of one agent run.")
    max_tool_calls: int = Field(
        default=32, ge=0, le=1000, description="Tool calls of one agent run."
    )
    max_tokens: int = Field(
        default=200_000, ge=1, description="Tokens (all kinds) the LLM calls of one run may use."
    )
    max_cost_usd: float | None = Field(
        default=None, gt=0, description="Cost of one run's LLM calls; unset: no limit."
    )
    max_envelope_retries: int = Field(
        default=2, ge=0, le=10,
        description="An invalid envelope is re-asked this many times, then the run fails "
        "envelope_invalid.",
    )  # fmt: skip
    turn_max_tokens: int = Field(
        default=4096, ge=1, description="max_tokens of each of the engine's LLM calls."
    )
    max_task_chars: int = Field(
        default=20_000, ge=1, description="Longest task POST /v1/agent/execute accepts."
    )
    event_max_chars: int = Field(
        default=2000, ge=64, description="agent.tool_result events carry at most this much text."
    )
    tool_result_max_chars: int = Field(
        default=20_000, ge=64, description="A tool result is cut to this many characters for the model."
    )
    flow_approval: Literal["never", "proposed", "always"] = Field(
        default="proposed",
        description="When a plan envelope's flow waits for the user's approval (a question of "
        "the task) before it runs: never, for flows the model proposed (proposed), or for flow "
        "tags too (always). An agent's own flow_approval attribute overrides it.",
    )  # fmt: skip
    flow_timeout_seconds: float = Field(
        default=600, gt=0,
        description="How long the agent waits for a flow's job to end before telling the model "
        "it timed out (the flow's job is cancelled).",
    )  # fmt: skip

    @field_validator("modules", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        return split_csv(value)


__all__ = [
    "AgentsSettings",
    "LLMBudget",
    "LLMSettings",
    "LLMWorkflowPolicy",
    "McpSettings",
    "McpTokenSettings",
    "SessionsSettings",
    "TagsSettings",
]
