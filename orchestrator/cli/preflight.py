"""What a server checks and says at start: its backends answer, the database is migrated, and
one log line naming the address, auth mode, workflows (with versions) and targets (masked).

A server that cannot work should not start and fail on its first request: each check raises a
:class:`ConfigError` (or :class:`NotMigratedError`) whose message says what to do, and the CLI
prints it as one line.
"""

from __future__ import annotations

import asyncio

import structlog

from orchestrator.config import Settings, mask_url
from orchestrator.dag.registry import WorkflowRegistry
from orchestrator.errors import ConfigError, NotMigratedError, TraceError

log = structlog.get_logger("orchestrator.start")

CHECK_TIMEOUT_SECONDS = 5.0
"""How long each backend has to answer at start."""


async def check_redis(url: str) -> None:
    """PING the Redis at ``url``.

    Raises:
        ConfigError: It does not answer within :data:`CHECK_TIMEOUT_SECONDS`.
    """
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        await asyncio.wait_for(client.ping(), CHECK_TIMEOUT_SECONDS)
    except (RedisError, OSError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach Redis at {mask_url(url)} ({type(exc).__name__}): start redis-server "
            "or point ORCH_REDIS__URL at a running one",
            details={"setting": "ORCH_REDIS__URL"},
        ) from exc
    finally:
        await client.aclose()


async def check_database(url: str) -> str:
    """Check that the database at ``url`` answers and is migrated to the code's head.

    Returns:
        The revision it is at.

    Raises:
        ConfigError: It cannot be reached.
        NotMigratedError: It is behind (or was never migrated): run ``orchestrator migrate``.
    """
    from orchestrator.trace.migrate import current, head

    try:
        revision = await asyncio.wait_for(asyncio.to_thread(current, url), CHECK_TIMEOUT_SECONDS)
    except (TraceError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach the database at {mask_url(url)}: start PostgreSQL (and create the "
            "database) or fix ORCH_DATABASE__URL",
            details={"setting": "ORCH_DATABASE__URL"},
        ) from exc
    wanted = head()
    if revision != wanted:
        raise NotMigratedError(
            f"the database at {mask_url(url)} is not migrated (at {revision or 'no revision'}, "
            f"the code needs {wanted}): run `orchestrator migrate`",
            details={"revision": revision, "head": wanted},
        )
    return revision


def auth_mode(settings: Settings) -> str:
    """The gateway's authentication, in words."""
    auth = settings.auth
    if not auth.enabled:
        return "DISABLED (every caller is an admin)"
    modes = ["API keys"]
    if auth.jwt_secret is not None:
        modes.append("JWT HS256")
    if auth.jwks_url:
        modes.append(f"JWT from {auth.jwks_url}")
    return " + ".join(modes)


async def preflight(settings: Settings, *, database: bool = True) -> None:
    """Check Redis and (with ``database``) the trace database before a server starts."""
    assert settings.redis.url is not None and settings.database.url is not None
    await check_redis(settings.redis.url)
    if database:
        await check_database(settings.database.url)


def announce(role: str, settings: Settings, registry: WorkflowRegistry, **fields: object) -> None:
    """Log the one start line: what this process serves and where its backends are."""
    log.info(
        f"{role} starting",
        workflows={wf.name: wf.version for wf in registry},
        redis=mask_url(settings.redis.url or "-"),
        database=mask_url(settings.database.url or "-"),
        queue=settings.queue.name,
        **fields,
    )


__all__ = ["announce", "auth_mode", "check_database", "check_redis", "preflight"]
