"""The gateway's ``auth`` settings section (``ORCH_AUTH__*``): authentication, authorization,
rate and input limits (docs/security.md). Import it from :mod:`orchestrator.config`, which
re-exports it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from orchestrator.config_fields import split_csv


class AuthSettings(BaseModel):
    """Authentication, authorization, rate and input limits of the gateway (docs/security.md)."""

    enabled: bool = Field(
        default=True,
        description="Require credentials on every route but /healthz and /readyz. Only "
        "`orchestrator dev` may run with it false (and says so at start); `orchestrator "
        "gateway` refuses to.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Static bearer token accepted on /metrics, /v1/system/queue-depth and "
        "/v1/system/metrics only (KEDA's metrics-api trigger, Prometheus). Unset: "
        "ORCH_GATEWAY__API_KEY serves (the Helm chart sets it and hands it to KEDA).",
    )
    public_metrics: bool = Field(
        default=False, description="Serve /metrics without credentials (a private network)."
    )
    query_token: bool = Field(
        default=False,
        description="Also accept `?access_token=` on the SSE and WebSocket routes, for browser "
        "EventSource, which cannot send headers. Tokens in URLs reach proxy logs: keep off "
        "unless needed.",
    )
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 secret of JWT bearer tokens (unset: no HS256)."
    )
    jwks_url: str | None = Field(
        default=None,
        description="JWKS URL (https://; http:// for tests) of RS256/ES256 JWT signing keys, "
        "e.g. https://idp.example.com/.well-known/jwks.json.",
    )
    jwks_cache_seconds: int = Field(
        default=300, ge=0, description="How long fetched JWKS keys are reused."
    )
    jwt_issuer: str | None = Field(
        default=None, description="Required `iss` of JWTs (checked when set)."
    )
    jwt_audience: str | None = Field(
        default=None, description="Required `aud` of JWTs (checked when set)."
    )
    jwt_leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="Clock skew tolerated on `exp`, `nbf`, `iat`."
    )
    jwt_tenant_claim: str = Field(default="tenant", description="JWT claim naming the tenant.")
    jwt_role_claim: str = Field(
        default="role",
        description="JWT claim naming the role (a string, or a list: the strongest known wins).",
    )
    key_touch_interval_seconds: int = Field(
        default=60,
        ge=0,
        description="An API key's last_used_at is written at most this often (one UPDATE, not "
        "one per request).",
    )
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A verified API key is reused in-process this long without reading the "
        "database (0: off). Also how long a gateway may still accept a key revoked by another "
        "process (`orchestrator keys revoke`); a revocation in the same process acts at once.",
    )
    submit_rate_per_key: str = Field(
        default="120/minute", description="Submits per API key or JWT subject (limits syntax)."
    )
    submit_rate_per_tenant: str = Field(
        default="1200/minute", description="Submits per tenant (limits syntax)."
    )
    stream_rate_per_key: str = Field(
        default="120/minute", description="SSE/WebSocket connections opened per key."
    )
    stream_rate_per_tenant: str = Field(
        default="1200/minute", description="SSE/WebSocket connections opened per tenant."
    )
    max_streams_per_key: int = Field(
        default=32, ge=1, description="Concurrent SSE/WebSocket connections per key."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest accepted request body (413 above)."
    )
    max_inputs_bytes: int = Field(
        default=256 * 1024, ge=2, description="Largest job inputs, serialized as JSON (422)."
    )
    max_inputs_depth: int = Field(
        default=32, ge=1, description="Deepest nesting of job inputs (422 inputs_too_deep)."
    )
    ws_max_message_bytes: int = Field(
        default=64 * 1024, ge=64, description="Largest WebSocket message from a client (1009)."
    )
    ws_message_rate: str = Field(
        default="20/second", description="WebSocket messages per connection (1008 above)."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS (e.g. https://excel.example.com); "
        "empty: no CORS headers.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        return split_csv(value)

    @field_validator(
        "submit_rate_per_key", "submit_rate_per_tenant", "stream_rate_per_key",
        "stream_rate_per_tenant", "ws_message_rate",
    )  # fmt: skip
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        parse(value)  # raises ValueError naming the bad string
        return value


__all__ = ["AuthSettings"]
