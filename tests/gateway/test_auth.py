"""Authentication, tenant isolation, rate and input limits, audit (issue 6's must-shows)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from orchestrator.auth import ApiKeyStore, Role
from orchestrator.config import Settings
from orchestrator.trace.store import TraceStore
from tests.conftest import wait_until
from tests.gateway import flows
from tests.support.stack import InProcessStack, in_process_stack

SettingsFactory = Callable[..., Settings]
GREETING = {"workflow": "greeting", "inputs": {"word": "hi", "count": 2}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_key(stack: InProcessStack, role: str, tenant: str | None = None) -> str:
    _, key = await ApiKeyStore(stack.services.trace.engine).create(tenant or stack.tenant, role)
    return key


async def audit_rows(stack: InProcessStack, **filters: Any) -> list[Any]:
    rows, _ = await stack.services.trace.list_audit(**filters)
    return rows


async def test_a_job_of_another_tenant_is_a_404_to_read_and_to_cancel_and_is_audited(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        job_id = (await stack.client.post("/v1/jobs", json=GREETING)).json()["job_id"]
        other = f"other-{uuid.uuid4().hex[:6]}"
        intruder = bearer(await new_key(stack, "admin", tenant=other))

        for method, path in (("GET", f"/v1/jobs/{job_id}"),
                             ("POST", f"/v1/jobs/{job_id}/cancel"),
                             ("GET", f"/v1/jobs/{job_id}/trace"),
                             ("GET", f"/v1/jobs/{job_id}/events")):  # fmt: skip
            response = await stack.client.request(method, path, headers=intruder)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"]["code"] == "job_not_found"
        listed = (await stack.client.get("/v1/jobs", headers=intruder)).json()
        assert listed["total"] == 0

        denied = await audit_rows(stack, tenant_id=other, job_id=job_id)
        assert {(r.action, r.details["outcome"], r.details["status"], r.details["reason"])
                for r in denied} == {
            ("job.read", "denied", 404, "job_not_visible"),
            ("job.cancel", "denied", 404, "job_not_visible"),
        }  # fmt: skip
        # The owner's job was not touched.
        assert (await stack.client.get(f"/v1/jobs/{job_id}")).json()["status"] == "queued"


async def test_a_submitter_sees_and_cancels_only_its_own_jobs(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        alice, bob = bearer(await new_key(stack, "submitter")), bearer(await new_key(stack, "submitter"))
        mine = (await stack.client.post("/v1/jobs", json=GREETING, headers=alice)).json()["job_id"]
        theirs = (await stack.client.post("/v1/jobs", json=GREETING, headers=bob)).json()["job_id"]

        listed = (await stack.client.get("/v1/jobs", headers=alice)).json()
        assert [item["job_id"] for item in listed["items"]] == [mine]
        assert (await stack.client.get(f"/v1/jobs/{theirs}", headers=alice)).status_code == 404
        assert (await stack.client.post(f"/v1/jobs/{theirs}/cancel", headers=alice)).status_code == 404
        assert (await stack.client.post(f"/v1/jobs/{mine}/cancel", headers=alice)).status_code == 202
        # The tenant's viewer reads both; the admin's list has both.
        viewer = bearer(await new_key(stack, "viewer"))
        assert (await stack.client.get(f"/v1/jobs/{theirs}", headers=viewer)).status_code == 200
        assert (await stack.client.get("/v1/jobs")).json()["total"] == 2


def gateway_keys(stack: InProcessStack) -> ApiKeyStore:
    """The gateway's own key store (its cache included): a revocation in the gateway process."""
    assert stack.app is not None
    keys: ApiKeyStore = stack.app.state.auth.authenticator.keys
    return keys


async def test_a_revoked_key_is_refused_at_once_and_the_refusal_is_audited(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        store = gateway_keys(stack)
        assert store.cache.enabled  # the default: verified keys are cached, revoke() evicts
        record, key = await store.create(stack.tenant, Role.VIEWER, "to revoke")
        assert (await stack.client.get("/v1/jobs", headers=bearer(key))).status_code == 200
        assert (await store.get(record.id)).last_used_at is not None  # type: ignore[union-attr]

        assert await store.revoke(record.id)
        response = await stack.client.get("/v1/jobs", headers=bearer(key))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.json()["error"]["details"]["reason"] == "key_revoked"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        rows = [r for r in await audit_rows(stack, actor="unauthenticated")
                if (r.details or {}).get("key_id") == record.id]
        assert [(r.action, r.details["status"]) for r in rows] == [("job.read", 401)]
        assert key.split("_", 2)[2] not in json.dumps([r.details for r in rows])


async def test_a_key_revoked_by_another_process_is_refused_within_the_key_cache_ttl(
    isolated_settings: SettingsFactory, pg_url: str
) -> None:
    ttl = 1.0
    settings = isolated_settings(auth={"api_key_cache_seconds": ttl})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        record, key = await gateway_keys(stack).create(stack.tenant, Role.VIEWER)
        assert (await stack.client.get("/v1/jobs", headers=bearer(key))).status_code == 200

        cli = TraceStore.from_url(pg_url, pool_size=1)  # what `orchestrator keys revoke` opens
        try:
            assert await ApiKeyStore(cli.engine).revoke(record.id)
        finally:
            await cli.close()
        revoked_at = time.monotonic()

        async def refused() -> bool:
            response = await stack.client.get("/v1/jobs", headers=bearer(key))
            return response.status_code == 401

        await wait_until(refused, timeout_seconds=ttl + 5, what="the revoked key's refusal")
        # Cached at the first request, before the revocation: gone at most one TTL later
        # (plus this loop's poll interval and a generous scheduling margin).
        assert time.monotonic() - revoked_at < ttl + 1.0
        response = await stack.client.get("/v1/jobs", headers=bearer(key))
        assert response.json()["error"]["details"]["reason"] == "key_revoked"


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic dXNlcjpwdw=="},
    {"Authorization": "Bearer orch_0123456789abcdef_notthesecret"}, {"X-API-Key": "orch_x"},
])  # fmt: skip
async def test_missing_or_invalid_credentials_are_a_401_that_never_echoes_them(
    isolated_settings: SettingsFactory, headers: dict[str, str]
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        stack.client.headers.pop("Authorization")
        response = await stack.client.post("/v1/jobs", json=GREETING, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    for value in headers.values():
        assert value.split()[-1] not in response.text


# -- JWT ------------------------------------------------------------------------------------

SECRET = "s3cret-for-tests-" + "x" * 32


def hs256(**overrides: Any) -> str:
    """An HS256 JWT; valid for an hour (parametrized tokens are made when the suite is
    collected, and the suite runs for minutes before reaching them)."""
    now = int(time.time())
    claims = {"sub": "alice", "tenant": "acme", "role": "submitter", "iss": "https://idp.test",
              "aud": "orchestrator", "iat": now, "exp": now + 3600, **overrides}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


JWT_SETTINGS = {"jwt_secret": SECRET, "jwt_issuer": "https://idp.test",
                "jwt_audience": "orchestrator", "jwt_leeway_seconds": 5}


@pytest.mark.parametrize(("token", "reason"), [
    (hs256(exp=int(time.time()) - 60), "token_expired"),
    (jwt.encode({"sub": "a", "tenant": "acme", "role": "admin", "exp": int(time.time()) + 3600,
                 "iss": "https://idp.test", "aud": "orchestrator"}, "wrong-secret" * 4,
                algorithm="HS256"), "signature_invalid"),
    (hs256(aud="someone-else"), "audience_invalid"),
    (hs256(iss="https://evil.test"), "issuer_invalid"),
    (hs256(role="root"), "role_missing"),
    (hs256(tenant=None), "tenant_missing"),
    (jwt.encode({"sub": "a"}, "", algorithm="none") if False else "a.b.c", "token_malformed"),
])  # fmt: skip
async def test_a_bad_jwt_is_refused_with_its_reason(
    isolated_settings: SettingsFactory, token: str, reason: str
) -> None:
    settings = isolated_settings(auth=JWT_SETTINGS)
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        response = await stack.client.get("/v1/jobs", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"]["details"]["reason"] == reason


async def test_a_valid_hs256_jwt_acts_as_its_subject_in_its_tenant(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(auth=JWT_SETTINGS)
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        submitted = await stack.client.post("/v1/jobs", json=GREETING, headers=bearer(hs256()))
        assert submitted.status_code == 202, submitted.text
        row = await stack.services.trace.get_job(submitted.json()["job_id"])
        assert row is not None and (row.tenant_id, row.user_id) == ("acme", "user:alice")
        # A submitter may not retry, and another user of the tenant does not see the job.
        job = submitted.json()["job_id"]
        retry = await stack.client.post(f"/v1/jobs/{job}/retry", headers=bearer(hs256()))
        assert retry.status_code == 403
        other = await stack.client.get(f"/v1/jobs/{job}", headers=bearer(hs256(sub="bob")))
        assert other.status_code == 404


def hs256_by_hand(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 JWT signed with any bytes (PyJWT refuses public keys as HMAC secrets)."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing = f"{header}.{b64(json.dumps(claims).encode())}"
    return f"{signing}.{b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())}"


def serve_once(body: bytes) -> ThreadingHTTPServer:
    """A loopback HTTP server answering every GET with ``body`` (a JWKS), in a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def test_an_rs256_jwt_is_verified_with_a_key_from_the_jwks(
    isolated_settings: SettingsFactory,
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    server = serve_once(body)
    url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    settings = isolated_settings(auth={"jwks_url": url, "jwt_audience": "orchestrator"})
    now = int(time.time())
    claims = {"sub": "svc", "tenant": "acme", "role": ["viewer", "operator"], "aud": "orchestrator",
              "exp": now + 60}
    good = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k1"})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "k1"})
    # An HS256 token "signed" with the public key must not pass (algorithm confusion).
    confused = hs256_by_hand(claims, json.dumps(jwk).encode())
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        ok = await stack.client.get("/v1/system/queue-depth", headers=bearer(good))
        bad = await stack.client.get("/v1/jobs", headers=bearer(forged))
        mixed = await stack.client.get("/v1/jobs", headers=bearer(confused))
    server.shutdown()
    server.server_close()
    assert ok.status_code == 200  # operator (the strongest of its roles) reads the queue depth
    assert (bad.status_code, bad.json()["error"]["details"]["reason"]) == (401, "signature_invalid")
    assert (mixed.status_code, mixed.json()["error"]["details"]["reason"]) == (
        401, "algorithm_not_allowed")


# -- rate and input limits ------------------------------------------------------------------


async def test_submits_over_the_key_rate_get_429_with_retry_after(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(auth={"submit_rate_per_key": "2/minute"})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        statuses = [(await stack.client.post("/v1/jobs", json=GREETING)) for _ in range(3)]
        other_key = bearer(await new_key(stack, "submitter"))
        fresh = await stack.client.post("/v1/jobs", json=GREETING, headers=other_key)
    assert [r.status_code for r in statuses] == [202, 202, 429]
    limited = statuses[2]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert fresh.status_code == 202  # the limit is per key


async def test_submits_over_the_tenant_rate_get_429_across_its_keys(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(auth={"submit_rate_per_tenant": "2/minute"})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        keys = [bearer(await new_key(stack, "submitter")) for _ in range(3)]
        answers = [await stack.client.post("/v1/jobs", json=GREETING, headers=k) for k in keys]
        rows = await audit_rows(stack, tenant_id=stack.tenant, action="job.submit")
    assert [r.status_code for r in answers] == [202, 202, 429]
    assert "Retry-After" in answers[2].headers
    assert sorted(r.details.get("outcome", "ok") for r in rows) == ["denied", "ok", "ok"]


async def test_the_concurrent_stream_cap_refuses_the_extra_stream_until_one_closes(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(auth={"max_streams_per_key": 1})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        from orchestrator.auth.principal import Principal
        from orchestrator.errors import RateLimitedError

        limits = stack.client._transport.app.state.auth.limits  # type: ignore[attr-defined]
        who = Principal(f"key:{uuid.uuid4().hex}", stack.tenant, Role.VIEWER, "api_key")
        first = await limits.open_stream(who)
        with pytest.raises(RateLimitedError):
            await limits.open_stream(who)
        await first.release()
        await first.release()  # idempotent
        await (await limits.open_stream(who)).release()


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"workflow": "greeting", "inputs": {"word": "x" * 2_000_000, "count": 1}}, 413,
     "payload_too_large"),
    ({"workflow": "greeting", "inputs": {"word": "x" * 300_000, "count": 1}}, 422,
     "inputs_too_large"),
    ({"workflow": "greeting", "inputs": {"word": "x", "count": 1, "deep": json.loads(
        "[" * 40 + "]" * 40)}}, 422, "inputs_too_deep"),
    ({"workflow": "greeting; DROP TABLE jobs", "inputs": {}}, 422, "request_invalid"),
])  # fmt: skip
async def test_hostile_input_gets_a_clear_4xx_with_a_stable_code(
    isolated_settings: SettingsFactory, payload: dict[str, Any], status: int, code: str
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        response = await stack.client.post("/v1/jobs", json=payload)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


# -- headers, CORS, audit endpoint ----------------------------------------------------------


async def test_responses_carry_security_headers_and_cors_follows_the_settings(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(auth={"cors_origins": "https://excel.example.com"})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        response = await stack.client.get("/v1/jobs")
        allowed = await stack.client.options("/v1/jobs", headers={
            "Origin": "https://excel.example.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        foreign = await stack.client.options("/v1/jobs", headers={
            "Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://excel.example.com"
    assert "access-control-allow-origin" not in foreign.headers


async def test_the_audit_log_is_for_admins_of_the_tenant_filtered_and_paginated(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        ids = [(await stack.client.post("/v1/jobs", json=GREETING)).json()["job_id"]
               for _ in range(3)]
        await stack.client.post(f"/v1/jobs/{ids[0]}/cancel")
        other = bearer(await new_key(stack, "admin", tenant=f"other-{uuid.uuid4().hex[:6]}"))
        await stack.client.post("/v1/jobs", json=GREETING, headers=other)
        viewer = bearer(await new_key(stack, "viewer"))

        page = (await stack.client.get("/v1/audit", params={"action": "job.submit",
                                                            "limit": 2})).json()
        cancels = (await stack.client.get("/v1/audit", params={"job_id": ids[0]})).json()
        refused = await stack.client.get("/v1/audit", headers=viewer)
    assert page["total"] == 3 and len(page["items"]) == 2
    assert {item["tenant_id"] for item in page["items"]} == {stack.tenant}
    assert [i["action"] for i in cancels["items"]] == ["job.cancel", "job.submit"]
    assert cancels["items"][0]["actor"].startswith("key:")
    assert refused.status_code == 403


async def test_secrets_never_reach_logs_errors_or_the_printed_config(
    isolated_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    import structlog

    from orchestrator.logs import configure_logging

    configure_logging("INFO", json=True)
    secret = "orch_0123456789abcdef_" + "S" * 43
    structlog.get_logger("t").info("request", authorization=f"Bearer {secret}", api_key=secret,
                                   headers={"x-api-key": secret})
    settings = isolated_settings(auth={"jwt_secret": "jwt-secret-value",
                                       "metrics_token": "metrics-token-value"})
    masked = json.dumps(settings.masked())
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        refused = await stack.client.get("/v1/jobs", headers=bearer(secret))
        rows = await audit_rows(stack, actor="unauthenticated")
    out = capsys.readouterr()
    for text in (out.out + out.err, refused.text, masked, json.dumps([r.details for r in rows])):
        assert "S" * 43 not in text
        assert "jwt-secret-value" not in text and "metrics-token-value" not in text
