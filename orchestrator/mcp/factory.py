"""Where gateways, workers and the CLI build their :class:`McpManager` (one place to plug in
the tool policy and the OAuth token source)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.config import Settings
from orchestrator.mcp.config import ServerConfig, load_servers
from orchestrator.mcp.policy import ToolPolicy
from orchestrator.mcp.tokens_base import TokenSource

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from orchestrator.mcp.manager import McpManager
    from orchestrator.services import Services


def configured_servers(settings: Settings) -> list[ServerConfig]:
    """The servers of ``settings`` (``ORCH_MCP__CONFIG``, ``ORCH_MCP__SERVERS``; else the
    ``mcp.yaml`` files shipped beside the workflow modules of ``ORCH_WORKFLOWS``).

    Raises:
        ConfigError: A server is invalid (naming it and the field).
    """
    return load_servers(settings.mcp.config, settings.mcp.servers,
                        workflow_modules=settings.workflows)  # fmt: skip


def build_manager(
    services: Services,
    *,
    policy: ToolPolicy | None = None,
    tokens: TokenSource | None = None,
    tracer: Tracer | None = None,
) -> McpManager:
    """The process's manager on its services (Redis cache, trace-store audit).

    Args:
        services: The process's open services.
        policy: The tool policy (default: the tenant's tags, ``services.tags.policy``, which
            falls back to ``ORCH_TAGS__DEFAULT_POLICY``).
        tokens: The OAuth token source (default: the token manager, built when a server has
            ``auth: oauth2``; the manager closes it).
        tracer: The tracer of tool-call spans (default: this process's pipeline's).

    Raises:
        ConfigError: The MCP configuration is invalid, or an ``oauth2`` server has no
            ``ORCH_MCP__TOKEN_ENCRYPTION_KEY``.
    """
    from orchestrator.mcp.manager import McpManager

    servers = configured_servers(services.settings)
    owned = None
    if tokens is None and any(s.auth.type == "oauth2" for s in servers):
        from orchestrator.mcp.login import configured_specs
        from orchestrator.mcp.oauth import TokenManager

        owned = TokenManager.from_settings(
            services.settings.mcp,
            configured_specs(services.settings),
            redis=services.redis,
            # its own small engine (Services.open refused an unset URL)
            engine=services.settings.database.url or "",
            keys=services.keys,
        )
        tokens = owned
    manager = McpManager(
        servers,
        redis=services.redis,
        keys=services.keys,
        tools_cache_ttl_seconds=services.settings.mcp.tools_cache_ttl_seconds,
        policy=policy if policy is not None else services.tags.policy,
        tokens=tokens,
        audit=services.trace.add_audit,
        tracer=tracer,
    )
    manager.owns_tokens = owned is not None
    return manager


__all__ = ["build_manager", "configured_servers"]
