"""``orchestrator keys``: create, list and revoke API keys (stored hashed in the trace database).

A key is printed once, on stdout, when it is created; only its SHA-256 hash is stored. Creating
and revoking write ``audit_log`` rows (actor ``cli``).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from orchestrator.auth.roles import KEY_ROLES
from orchestrator.config import Settings
from orchestrator.errors import ConfigError

if TYPE_CHECKING:  # imported when a command runs: every CLI start (the worker's too) loads this
    from orchestrator.auth.apikeys import ApiKeyStore
    from orchestrator.trace.records import AuditRecord
    from orchestrator.trace.store import TraceStore

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
T = TypeVar("T")


async def _with_store(
    settings: Settings, action: Callable[[ApiKeyStore, TraceStore], Awaitable[T]]
) -> T:
    from orchestrator.auth.apikeys import ApiKeyStore
    from orchestrator.trace.store import TraceStore

    if not settings.database.url:
        raise ConfigError("ORCH_DATABASE__URL is not set", details={"setting": "ORCH_DATABASE__URL"})
    trace = TraceStore.from_url(settings.database.url, pool_size=1)
    try:
        return await action(ApiKeyStore(trace.engine), trace)
    finally:
        await trace.close()


def _audit(action: str, tenant_id: str, details: dict[str, Any]) -> AuditRecord:
    from orchestrator.trace.records import AuditRecord

    return AuditRecord(at=datetime.now(UTC), actor="cli", action=action, tenant_id=tenant_id,
                       details=details)


def register(root: typer.Typer, settings: Callable[[], Settings],
             run: Callable[[Any], Any]) -> None:
    """Add the ``keys`` group to ``root`` (``settings`` and ``run`` are the CLI's helpers)."""

    @app.command()
    def create(
        tenant: Annotated[str, typer.Option(help="The tenant the key acts for.")],
        role: Annotated[str, typer.Option(
            help=f"One of: {', '.join(r.value for r in KEY_ROLES)}.")],
        name: Annotated[str | None, typer.Option(help="A label: who or what holds it.")] = None,
    ) -> None:
        """Create a key and print it once (stdout); store only its hash."""

        async def go(store: ApiKeyStore, trace: TraceStore) -> str:
            record, key = await store.create(tenant, role, name)
            await trace.add_audit(_audit("key.create", tenant, {
                "key_id": record.id, "role": record.role.value, "name": name}))
            typer.echo(f"created key {record.id} (tenant {tenant}, role {record.role.value}); "
                       "it is shown only now", err=True)
            return key

        sys.stdout.write(run(_with_store(settings(), go)) + "\n")

    @app.command("list")
    def list_keys(
        tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    ) -> None:
        """List keys, one per line, tab-separated (never their secrets)."""

        async def go(store: ApiKeyStore, trace: TraceStore) -> Any:
            return await store.list(tenant)

        def when(moment: datetime | None) -> str:
            return moment.isoformat(timespec="seconds") if moment else "-"

        lines = ["id\ttenant\trole\tname\tcreated\tlast_used\trevoked"]
        lines += [
            "\t".join((k.id, k.tenant_id, k.role.value, k.name or "-", when(k.created_at),
                       when(k.last_used_at), when(k.revoked_at)))
            for k in run(_with_store(settings(), go))
        ]
        sys.stdout.write("\n".join(lines) + "\n")

    @app.command()
    def revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
        """Revoke a key; its next request is refused."""

        async def go(store: ApiKeyStore, trace: TraceStore) -> bool:
            record = await store.get(key_id)
            if record is None:
                return False
            done = await store.revoke(key_id)
            if done:
                await trace.add_audit(_audit("key.revoke", record.tenant_id, {"key_id": key_id}))
            return done

        if not run(_with_store(settings(), go)):
            typer.secho(f"no live key {key_id}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        typer.echo(f"revoked {key_id}")

    root.add_typer(app, name="keys")


__all__ = ["register"]
