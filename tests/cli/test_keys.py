"""``orchestrator keys`` and the rule that only ``orchestrator dev`` may run without auth."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.auth import ApiKeyStore
from orchestrator.trace.store import TraceStore

ROOT = Path(__file__).resolve().parents[2]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


async def test_keys_are_created_once_listed_without_secrets_and_revoked(pg_url: str) -> None:
    env = base_env(ORCH_DATABASE__URL=pg_url)
    created = cli(env, "keys", "create", "--tenant", "cli-t", "--role", "operator",
                  "--name", "ci")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    key_id = key.split("_")[1]
    trace = TraceStore.from_url(pg_url, pool_size=1)
    try:
        principal = await ApiKeyStore(trace.engine).authenticate(key)
        assert (principal.tenant_id, principal.role.value) == ("cli-t", "operator")
        listed = cli(env, "keys", "list", "--tenant", "cli-t")
        assert key_id in listed.stdout and key.split("_", 2)[2] not in listed.stdout
        assert cli(env, "keys", "revoke", key_id).returncode == 0
        assert cli(env, "keys", "revoke", key_id).returncode == 1
        assert (await ApiKeyStore(trace.engine).get(key_id)).revoked_at is not None  # type: ignore[union-attr]
        rows, _ = await trace.list_audit(tenant_id="cli-t", actor="cli")
        assert [r.action for r in rows] == ["key.revoke", "key.create"]
    finally:
        await trace.close()
    bad = cli(env, "keys", "create", "--tenant", "cli-t", "--role", "root")
    assert bad.returncode == 2 and "config_invalid" in bad.stderr


def test_the_gateway_refuses_to_start_with_auth_disabled() -> None:
    env = base_env(ORCH_REDIS__URL="redis://127.0.0.1:1/0",
                   ORCH_DATABASE__URL="sqlite+aiosqlite://", ORCH_AUTH__ENABLED="false")
    proc = cli(env, "gateway", "--port", "0")
    assert proc.returncode == 2
    assert "config_invalid" in proc.stderr and "ORCH_AUTH__ENABLED" in proc.stderr
