"""``Settings``: one pydantic-settings object per process, prefix ``ORCH_``, sections split by ``__``.

Built once at each entry point and passed down (DESIGN §10); there is no module-level instance.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class RedisSettings(BaseModel):
    """Where the queue, job state, events and leases live."""

    url: str | None = Field(
        default=None,
        description="Redis URL (redis://host:port/db). Unset: `orchestrator dev` starts an "
        "embedded redis-server; other commands refuse to start.",
    )
    max_connections: int = Field(default=256, ge=4, description="Connection pool size per process.")


class DatabaseSettings(BaseModel):
    """The trace store: job history, step runs and the audit log."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL: postgresql+asyncpg://... or sqlite+aiosqlite:///file. "
        "Unset: `orchestrator dev` uses SQLite under .orchestrator/; other commands refuse to start.",
    )
    pool_size: int = Field(default=10, ge=1, description="PostgreSQL connection pool size.")


class StateSettings(BaseModel):
    """Job state, checkpoints and events in Redis (DESIGN §4)."""

    ttl_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="How long a job's state, checkpoints and events stay in Redis after it ends.",
    )
    events_maxlen: int = Field(
        default=100_000, ge=100, description="Approximate cap on one job's event stream (XADD MAXLEN ~)."
    )
    key_prefix: str = Field(default="orch", description="Prefix of every key this project writes.")


class QueueSettings(BaseModel):
    """The arq queue."""

    name: str = Field(default="arq:queue", description="arq queue name (its sorted set key).")


class LeaseSettings(BaseModel):
    """The job lease that lets a dead worker's job resume within seconds (DESIGN §7)."""

    ttl_seconds: float = Field(
        default=5.0, gt=0.2, description="Lease lifetime; a job whose lease lapses is resumed."
    )
    check_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often each worker looks for lapsed leases."
    )


class WorkerSettings(BaseModel):
    """The worker process."""

    poll_delay_seconds: float = Field(
        default=0.05, gt=0, description="arq poll delay; arq's default 0.5 s costs that much per job."
    )
    max_jobs: int = Field(default=16, ge=1, description="Jobs one long-lived worker runs at once.")
    job_timeout_seconds: int = Field(
        default=3600, ge=1, description="Upper bound on one job's run in one worker (arq job_timeout)."
    )
    idle_timeout_seconds: float = Field(
        default=30.0, gt=0, description="`--one-job`: exit when no job started within this time."
    )
    trace_flush_interval_seconds: float = Field(
        default=0.25, gt=0, description="How often buffered step runs are written to the trace store."
    )
    shutdown_grace_seconds: float = Field(
        default=30.0, ge=0, description="On SIGTERM, how long running steps may take to finish."
    )


class GatewaySettings(BaseModel):
    """The HTTP gateway."""

    host: str = Field(default="127.0.0.1", description="Bind address.")
    port: int = Field(default=8000, ge=0, le=65535, description="Bind port.")
    url: str = Field(
        default="http://127.0.0.1:8000", description="Where CLI clients reach the gateway."
    )
    api_key: SecretStr | None = Field(default=None, description="Bearer token CLI clients send.")


class Settings(BaseSettings):
    """Every setting of a process; read from ``ORCH_*`` environment variables and ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="ORCH_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    workflows: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated module paths holding workflows (examples.repo_brief,myapp.flows).",
    )
    log_level: str = Field(default="INFO", description="Log level of the JSON logs.")
    redis: RedisSettings = Field(default_factory=RedisSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    lease: LeaseSettings = Field(default_factory=LeaseSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)

    @field_validator("workflows", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def masked(self) -> dict[str, Any]:
        """Return the effective settings as JSON with secrets and URL passwords masked."""
        data = self.model_dump(mode="json")
        for section in ("redis", "database"):
            url = data[section].get("url")
            if url:
                data[section]["url"] = mask_url(url)
        return data


def mask_url(url: str) -> str:
    """Replace the password of ``scheme://user:password@host`` with ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


__all__ = [
    "DatabaseSettings",
    "GatewaySettings",
    "LeaseSettings",
    "QueueSettings",
    "RedisSettings",
    "Settings",
    "StateSettings",
    "WorkerSettings",
    "mask_url",
]
