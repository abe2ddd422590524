"""The options every command that talks to a gateway takes, and the SDK client they build."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.cli.settings import load_settings

if TYPE_CHECKING:
    from sdk import AsyncClient, Client

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="ORCH_GATEWAY__URL",
        show_envvar=True,
        help="The gateway (default http://127.0.0.1:8000).",
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="ORCH_GATEWAY__API_KEY",
        show_envvar=True,
        help="An API key (`orchestrator keys create`) or JWT, sent as a bearer token.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _target(url: str | None, api_key: str | None) -> tuple[str, str | None]:
    settings = load_settings()
    key = api_key or (
        settings.gateway.api_key.get_secret_value() if settings.gateway.api_key else None
    )
    return url or settings.gateway.url, key


def open_client(url: str | None, api_key: str | None) -> Client:
    """A blocking SDK client for the gateway at ``url`` (else ``ORCH_GATEWAY__URL``)."""
    from sdk import Client

    base, key = _target(url, api_key)
    return Client(base, api_key=key)


def open_async_client(url: str | None, api_key: str | None) -> AsyncClient:
    """An async SDK client for the gateway at ``url`` (else ``ORCH_GATEWAY__URL``)."""
    from sdk import AsyncClient

    base, key = _target(url, api_key)
    return AsyncClient(base, api_key=key)


__all__ = ["ApiKeyOpt", "JsonOpt", "UrlOpt", "open_async_client", "open_client"]
