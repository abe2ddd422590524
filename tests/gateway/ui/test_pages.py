"""Dashboard sessions, CSRF, roles and pages through the in-process gateway (real Redis and
PostgreSQL; the browser's own journeys are in tests/e2e/dashboard)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from gateway.ui.session import COOKIE_NAME
from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from tests.gateway import flows
from tests.support.jobs import submit, wait_for_end
from tests.support.stack import InProcessStack, in_process_stack

SettingsFactory = Callable[..., Settings]
TOKEN = re.compile(r'name="(?:login_token|csrf_token)" value="([^"]+)"')


@asynccontextmanager
async def browser(stack: InProcessStack) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client without the API's bearer header."""
    transport = httpx.ASGITransport(app=stack.app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def log_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await client.get("/ui/login")
    token = TOKEN.search(form.text)
    assert token is not None
    return await client.post("/ui/login", data={"api_key": key, "login_token": token[1]})


async def csrf_of(client: httpx.AsyncClient, path: str = "/ui/runs") -> str:
    page = await client.get(path)
    token = TOKEN.search(page.text)
    assert token is not None, page.text[:300]
    return token[1]


async def test_login_sets_a_strict_http_only_cookie_and_redirects_to_the_runs(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        async with browser(stack) as client:
            assert (await client.get("/ui")).headers["location"] == "/ui/runs"
            assert (await client.get("/ui/runs")).headers["location"] == "/ui/login"
            r = await log_in(client, stack.key)
            assert r.status_code == 303 and r.headers["location"] == "/ui/runs"
            cookie = next(c for c in r.headers.get_list("set-cookie")
                          if c.startswith(COOKIE_NAME))  # fmt: skip
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
            assert stack.key not in cookie
            page = await client.get("/ui/runs")
            assert page.status_code == 200 and 'data-role="admin"' in page.text
            rows, _ = await stack.services.trace.list_audit(
                tenant_id=stack.tenant, action="ui.login", job_id=None, actor=None, since=None,
                until=None, limit=5, offset=0)  # fmt: skip
            assert len(rows) == 1


async def test_a_wrong_key_or_a_missing_login_token_is_refused(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        async with browser(stack) as client:
            r = await log_in(client, "orch_0000000000000000_nope")
            assert r.status_code == 401 and 'data-error-code="unauthenticated"' in r.text
            r = await client.post("/ui/login", data={"api_key": stack.key})
            assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_invalid"
            assert COOKIE_NAME not in client.cookies


async def test_revoking_the_key_or_logging_out_ends_the_session(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        keys = ApiKeyStore(stack.services.trace.engine)
        record, key = await keys.create(stack.tenant, "operator", "ui")
        async with browser(stack) as client:
            await log_in(client, key)
            assert (await client.get("/ui/runs")).status_code == 200
            await stack.app.state.auth.authenticator.keys.revoke(record.id)  # type: ignore[union-attr]
            r = await client.get("/ui/runs")
            assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        async with browser(stack) as client:
            await log_in(client, stack.key)
            token = await csrf_of(client)
            r = await client.post("/ui/logout", data={"csrf_token": token})
            assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        async with browser(stack) as client:
            await log_in(client, stack.key)
            old = client.cookies[COOKIE_NAME]
            await client.post("/ui/logout", data={"csrf_token": await csrf_of(client)})
            client.cookies.set(COOKIE_NAME, old, path="/ui")
            assert (await client.get("/ui/runs")).status_code == 303


async def test_actions_need_the_csrf_token_and_the_role(isolated_settings: SettingsFactory) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "greeting", {"word": "a", "count": 2})
        _, viewer_key = await ApiKeyStore(stack.services.trace.engine).create(
            stack.tenant, "viewer", "ui"
        )
        async with browser(stack) as client:
            await log_in(client, viewer_key)
            page = await client.get(f"/ui/runs/{job_id}")
            assert page.status_code == 200 and "data-action" not in page.text
            token = await csrf_of(client)
            r = await client.post(f"/ui/runs/{job_id}/cancel", data={"csrf_token": token})
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
            r = await client.post(f"/ui/runs/{job_id}/cancel", headers={"X-CSRF-Token": "x"})
            assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_invalid"
            assert (await client.get("/ui/audit")).status_code == 403
            assert (await client.get("/ui/system")).status_code == 403
        async with browser(stack) as client:
            await log_in(client, stack.key)
            token = await csrf_of(client)
            r = await client.post(f"/ui/runs/{job_id}/cancel", headers={"X-CSRF-Token": token})
            assert r.status_code == 303
            state = await stack.services.state.get_job(job_id)
            assert state is not None and state.status.value == "cancelled"
            audit = await client.get("/ui/audit?action=job.cancel")
            assert f'href="/ui/runs/{job_id}"' in audit.text
            again = await client.post(f"/ui/runs/{job_id}/cancel", data={"csrf_token": token})
            assert again.status_code == 409 and 'data-error-code="job_state_conflict"' in again.text
            other = await submit(stack, "greeting", {"word": "b", "count": 1})
            hard = await client.post(
                f"/ui/runs/{other}/cancel", data={"csrf_token": token, "hard": "1"}
            )
            assert hard.status_code == 303
            state = await stack.services.state.get_job(other)
            assert state is not None and state.status.value == "cancelled"


async def test_another_tenants_run_is_a_404_everywhere(isolated_settings: SettingsFactory) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "greeting", {"word": "a", "count": 2})
        _, other = await ApiKeyStore(stack.services.trace.engine).create(
            f"other-{uuid.uuid4().hex[:6]}", "admin", "ui"
        )
        async with browser(stack) as client:
            await log_in(client, other)
            token = await csrf_of(client)
            for path in (
                f"/ui/runs/{job_id}",
                f"/ui/runs/{job_id}/stream",
                f"/ui/runs/{job_id}/steps/repeat/output",
                f"/ui/runs/{job_id}/steps/repeat/chunks",
            ):
                r = await client.get(path)
                assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found", path
            r = await client.post(f"/ui/runs/{job_id}/cancel", data={"csrf_token": token})
            assert r.status_code == 404
            assert job_id not in (await client.get("/ui/runs")).text


async def test_the_runs_list_filters_and_paginates(isolated_settings: SettingsFactory) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        ids = [await submit(stack, "greeting", {"word": "a", "count": 1}) for _ in range(27)]
        page_id = await submit(stack, "pages", {"url": "u"})
        await stack.services.state.update(ids[0], {"blocked": "version_mismatch"})
        async with browser(stack) as client:
            await log_in(client, stack.key)
            first = await client.get("/ui/runs/table")
            assert first.text.count("data-job=") == 25 and "28 runs" in first.text
            second = await client.get("/ui/runs/table?offset=25")
            assert second.text.count("data-job=") == 3
            pages = await client.get("/ui/runs/table?workflow=pages")
            assert pages.text.count("data-job=") == 1 and page_id in pages.text
            none = await client.get("/ui/runs/table?status=succeeded")
            assert "data-job=" not in none.text
            blocked = await client.get("/ui/runs/table?blocked=version")
            assert blocked.text.count("data-job=") == 1 and ids[0] in blocked.text
            assert "version_mismatch" in blocked.text
            later = await client.get("/ui/runs/table?since=2999-01-01T00:00")
            assert "data-job=" not in later.text
            assert 'hx-trigger="every 2s"' in first.text


async def test_a_finished_run_shows_its_output_and_its_stream_says_204(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        job_id = await submit(stack, "pages", {"url": "http://example.test/x"})
        await wait_for_end(stack.services, job_id)
        async with browser(stack) as client:
            await log_in(client, stack.key)
            page = await client.get(f"/ui/runs/{job_id}")
            assert 'data-status="succeeded"' in page.text and "sse-connect" not in page.text
            assert "bytes" in page.text  # render's streamed output, from its checkpoint
            assert (await client.get(f"/ui/runs/{job_id}/stream")).status_code == 204
            out = await client.get(f"/ui/runs/{job_id}/steps/render/output")
            assert out.json()["output"].endswith("bytes")
            chunks = await client.get(f"/ui/runs/{job_id}/steps/render/chunks")
            assert chunks.text.count("<li data-event-id=") == 2
            assert (await client.get("/ui/system")).status_code == 200
            wf = await client.get("/ui/workflows/pages")
            assert 'name="url"' in wf.text and 'data-step="render"' in wf.text


async def test_a_cookie_stream_from_a_foreign_origin_is_refused(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(auth={"cors_origins": "https://excel.example.com"})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        job_id = await submit(stack, "greeting", {"word": "a", "count": 1})
        async with browser(stack) as client:
            await log_in(client, stack.key)
            r = await client.get(
                f"/ui/runs/{job_id}/stream", headers={"Origin": "https://evil.example"}
            )
            assert r.status_code == 403 and r.json()["error"]["code"] == "origin_forbidden"
            cancelled = await stack.client.post(f"/v1/jobs/{job_id}/cancel")
            assert cancelled.status_code == 202
            r = await client.get(
                f"/ui/runs/{job_id}/stream", headers={"Origin": "https://excel.example.com"}
            )
            assert r.status_code == 204  # allowed (and the job has ended)
            r = await client.get(f"/ui/runs/{job_id}/stream", headers={"Origin": "http://gateway"})
            assert r.status_code == 204  # the gateway's own origin
