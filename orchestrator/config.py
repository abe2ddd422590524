"""``Settings``: one pydantic-settings object per process, prefix ``ORCH_``, sections split by ``__``.

Built once at each entry point and passed down (DESIGN §10); there is no module-level instance.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from orchestrator.config_agents import (
    AgentsSettings,
    LLMBudget,
    LLMSettings,
    LLMWorkflowPolicy,
    McpSettings,
    McpTokenSettings,
    SessionsSettings,
    TagsSettings,
)
from orchestrator.config_auth import AuthSettings


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
        default=100_000,
        ge=100,
        description="Approximate cap on one job's event stream (XADD MAXLEN ~).",
    )
    key_prefix: str = Field(default="orch", description="Prefix of every key this project writes.")
    idempotency_window_seconds: int = Field(
        default=24 * 3600,
        ge=1,
        description="Within this window a submit repeating a tenant's idempotency key returns "
        "the first job instead of creating one.",
    )
    compress_threshold_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="Outputs larger than this are stored zlib-compressed, and a job's result "
        "and terminal event carry a reference to them (claim check) instead of the value.",
    )
    max_output_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1,
        description="Hard limit on one step output (serialized); a larger one fails the step "
        "with output_too_large instead of filling Redis.",
    )


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

    id: str | None = Field(
        default=None,
        max_length=200,
        description="A stable name for this worker across restarts (e.g. the pod name): a "
        "restarted process reclaims its predecessor's jobs at once instead of after the lease "
        "TTL. Must be unique among live workers. Default: host, pid and a random suffix.",
    )
    poll_delay_seconds: float = Field(
        default=0.05,
        gt=0,
        description="arq poll delay; arq's default 0.5 s costs that much per job.",
    )
    max_jobs: int = Field(default=16, ge=1, description="Jobs one long-lived worker runs at once.")
    job_timeout_seconds: int = Field(
        default=3600,
        ge=1,
        description="Upper bound on one job's run in one worker (arq job_timeout).",
    )
    idle_timeout_seconds: float = Field(
        default=30.0, gt=0, description="`--one-job`: exit when no job started within this time."
    )
    trace_flush_interval_seconds: float = Field(
        default=0.25,
        gt=0,
        description="How often buffered step runs are written to the trace store.",
    )
    shutdown_grace_seconds: float = Field(
        default=30.0, ge=0, description="On SIGTERM, how long running steps may take to finish."
    )
    version_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A job pinned to a workflow version this worker lacks is queued again after "
        "this delay, for a worker of that version (rolling deploys).",
    )
    concurrency_retry_seconds: float = Field(
        default=0.5,
        gt=0,
        description="A job over its workflow's concurrency limit waits in the queue this long "
        "before it is tried again.",
    )


class GatewaySettings(BaseModel):
    """The HTTP gateway."""

    host: str = Field(default="127.0.0.1", description="Bind address.")
    port: int = Field(default=8000, ge=0, le=65535, description="Bind port.")
    url: str = Field(
        default="http://127.0.0.1:8000", description="Where CLI clients reach the gateway."
    )
    api_key: SecretStr | None = Field(default=None, description="Bearer token CLI clients send.")


class KubernetesSettings(BaseModel):
    """The gateway's view of the cluster: worker Jobs and pods in metrics, hard cancel (DESIGN §8)."""

    mode: Literal["auto", "in-cluster", "kubeconfig", "off"] = Field(
        default="auto",
        description="auto: the pod's service account when KUBERNETES_SERVICE_HOST is set, else "
        "off; in-cluster: always the service account; kubeconfig: `kubeconfig` or KUBECONFIG "
        "or ~/.kube/config (development); off: no cluster.",
    )
    kubeconfig: str | None = Field(
        default=None, description="kubeconfig file for mode=kubeconfig (default: KUBECONFIG)."
    )
    namespace: str | None = Field(
        default=None,
        description="Namespace of the worker Jobs and pods; unset: the service account's "
        "namespace in a pod, the kubeconfig context's otherwise, else `default`.",
    )
    worker_selector: str = Field(
        default="app.kubernetes.io/component=worker",
        description="Label selector of the worker Jobs and pods (the Helm chart sets its "
        "release's); a hard cancel deletes only a pod that matches it.",
    )
    request_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Timeout of one Kubernetes API call."
    )
    delete_grace_period_seconds: int = Field(
        default=0,
        ge=0,
        description="Grace period of a hard cancel's pod deletion; 0 kills at once.",
    )


class TelemetrySettings(BaseModel):
    """Tracing pipeline and worker metrics (DESIGN §9); one pipeline per process."""

    exporter: Literal["none", "console", "otlp", "elastic-apm"] = Field(
        default="none",
        description="none: spans are not recorded (trace context still flows); console: spans "
        "printed on stdout; otlp: OpenTelemetry SDK + OTLP exporter (Elastic APM Server, EDOT "
        "collector, any OTLP collector); elastic-apm: the classic Elastic agent through its "
        "OpenTelemetry bridge (needs `pip install 'elastic-apm[opentelemetry]'`).",
    )
    otlp_protocol: Literal["grpc", "http"] = Field(
        default="http", description="OTLP transport: http (protobuf over HTTP) or grpc."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP endpoint, e.g. http://apm-server:8200 or http://collector:4318 (http) "
        "or http://collector:4317 (grpc); `/v1/traces` is appended for http. Unset: the "
        "exporter's default or OTEL_EXPORTER_OTLP_ENDPOINT.",
    )
    otlp_headers: SecretStr | None = Field(
        default=None,
        description="Headers sent with every export, `k=v,k2=v2` (e.g. "
        "`Authorization=Bearer <APM secret token>`). Unset: OTEL_EXPORTER_OTLP_HEADERS.",
    )
    otlp_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one export request."
    )
    service_name: str | None = Field(
        default=None,
        description="service.name of the spans; unset: orchestrator-gateway, "
        "orchestrator-worker or orchestrator-dev by process.",
    )
    environment: str | None = Field(
        default=None, description="deployment.environment.name of the spans (e.g. production)."
    )
    sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of new traces recorded (parent-based: a sampled submit keeps its "
        "job and steps).",
    )
    chunk_events: bool = Field(
        default=False,
        description="Record every streamed chunk as an event on its step span (costly for "
        "long streams).",
    )
    trace_url_template: str | None = Field(
        default=None,
        description="Link to a trace in the APM UI, with `{trace_id}`, e.g. "
        "https://kibana.example/app/apm/link-to/trace/{trace_id}; shown by "
        "GET /v1/jobs/{id}/trace.",
    )
    elastic_apm_server_url: str | None = Field(
        default=None, description="elastic-apm exporter: APM Server URL (ELASTIC_APM_SERVER_URL)."
    )
    elastic_apm_secret_token: SecretStr | None = Field(
        default=None, description="elastic-apm exporter: APM Server secret token."
    )
    elastic_apm_api_key: SecretStr | None = Field(
        default=None, description="elastic-apm exporter: APM Server API key."
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Worker: serve its Prometheus metrics on this port (0: off). For "
        "long-lived workers; KEDA one-job pods live too briefly to be scraped.",
    )
    metrics_host: str = Field(default="0.0.0.0", description="Worker: metrics bind address.")
    pushgateway_url: str | None = Field(
        default=None,
        description="Worker: push its metrics to this Prometheus Pushgateway (or a "
        "compatible aggregating gateway) when it exits, e.g. http://pushgateway:9091.",
    )


class LogSettings(BaseModel):
    """JSON logs (structlog)."""

    redact_fields: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated log keys whose values are replaced by `***`, beside the "
        "built-in password, secret, token, api_key, authorization, cookie.",
    )

    @field_validator("redact_fields", mode="before")
    @classmethod
    def _split_fields(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class UiSettings(BaseModel):
    """The web dashboard served by the gateway at ``/ui`` (docs/dashboard.md)."""

    enabled: bool = Field(default=True, description="Serve the dashboard at /ui.")
    session_ttl_seconds: int = Field(
        default=8 * 3600,
        ge=60,
        description="A dashboard session ends this long after login (revoking its API key or "
        "logging out ends it sooner).",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Mark the session cookie Secure; unset: when the request came over https.",
    )
    grafana_url: str | None = Field(
        default=None,
        description="Link to the Grafana dashboards, shown on the System page (e.g. "
        "https://grafana.example.com/d/orchestrator).",
    )
    output_preview_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Most bytes of a step's output shown on a run page (the full output has "
        "its own route).",
    )


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
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    log: LogSettings = Field(default_factory=LogSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    tags: TagsSettings = Field(default_factory=TagsSettings)
    agents: AgentsSettings = Field(default_factory=AgentsSettings)
    sessions: SessionsSettings = Field(default_factory=SessionsSettings)
    ui: UiSettings = Field(default_factory=UiSettings)

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
        from orchestrator.mcp.config import masked_servers

        data["mcp"]["servers"] = masked_servers(data["mcp"]["servers"])
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
    "AgentsSettings",
    "AuthSettings",
    "DatabaseSettings",
    "GatewaySettings",
    "KubernetesSettings",
    "LLMBudget",
    "LLMSettings",
    "LLMWorkflowPolicy",
    "LeaseSettings",
    "LogSettings",
    "McpSettings",
    "McpTokenSettings",
    "QueueSettings",
    "RedisSettings",
    "SessionsSettings",
    "Settings",
    "StateSettings",
    "TagsSettings",
    "TelemetrySettings",
    "UiSettings",
    "WorkerSettings",
    "mask_url",
]
