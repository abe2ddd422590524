"""The dashboard in a real browser: log in, run, watch, answer, cancel, roles, tenants, CSRF.

Chromium (Debian's) drives a real ``orchestrator gateway`` and a real ``orchestrator worker``
(two processes, PostgreSQL and Redis). Waits are Playwright's bounded ``expect`` polls; gates
(files the test creates) hold steps so that "while it runs" is observable without sleeping.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.dashboard.conftest import Dashboard

TIMEOUT_MS = 20_000
URL = re.compile(r"""https?://[^\s"'<>)]+""")


def log_in(page: Page, dash: Dashboard, key: str) -> None:
    page.goto(f"{dash.url}/ui")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/runs$"))


def submit_api(dash: Dashboard, workflow: str, inputs: dict[str, object]) -> str:
    r = httpx.post(
        f"{dash.url}/v1/jobs",
        json={"workflow": workflow, "inputs": inputs},
        headers={"Authorization": f"Bearer {dash.admin_key}"},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


def node(page: Page, step: str):  # type: ignore[no-untyped-def]
    return page.locator(f'.node[data-step="{step}"]')


def test_a_run_submitted_from_its_form_is_watched_live_from_pending_to_succeeded(
    page: Page, dashboard: Dashboard, artifacts: Path
) -> None:
    log_in(page, dashboard, dashboard.admin_key)
    page.goto(f"{dashboard.url}/ui/workflows/ui_brief")
    page.fill("input[name=topic]", "acme")
    page.fill("input[name=count]", "4")
    page.fill("input[name=marker_dir]", str(dashboard.marker_dir))
    page.click("form[data-action=run] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/runs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]

    # run_llm waits for its gate: render_doc has not started.
    expect(node(page, "run_llm")).to_have_attribute("data-status", "running", timeout=TIMEOUT_MS)
    expect(node(page, "render_doc")).to_have_attribute("data-status", "pending")
    expect(page.locator('[data-output-step="run_llm"]')).to_be_hidden()
    expect(node(page, "fetch_context")).to_have_attribute(
        "data-status", "succeeded", timeout=TIMEOUT_MS
    )
    (dashboard.marker_dir / "llm-gate").touch()
    # render_doc streams its first chunk and waits: seen running, with the chunk, live.
    expect(node(page, "render_doc")).to_have_attribute("data-status", "running", timeout=TIMEOUT_MS)
    # run_llm's output panel was empty at load; its checkpoint arrives live when it ends.
    expect(page.locator('[data-output-step="run_llm"] pre')).to_have_text(
        "context about acme x4", timeout=TIMEOUT_MS
    )
    output = page.locator('[data-output-step="render_doc"] pre.stream')
    expect(output).to_contain_text("chunk-0 context about acme x4", timeout=TIMEOUT_MS)
    expect(output).not_to_contain_text("chunk-1")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "running")
    page.screenshot(path=str(artifacts / "run-page-running.png"), full_page=True)
    (dashboard.marker_dir / "render-gate").touch()
    expect(output).to_contain_text("chunk-3", timeout=TIMEOUT_MS)
    expect(node(page, "render_doc")).to_have_attribute(
        "data-status", "succeeded", timeout=TIMEOUT_MS
    )
    expect(page.locator("#job-status")).to_have_attribute(
        "data-status", "succeeded", timeout=TIMEOUT_MS
    )
    for step in ("fetch_context", "fetch_capiq", "run_llm", "render_doc"):
        expect(node(page, step)).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#waterfall .wf-row")).to_have_count(4, timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "run-page.png"), full_page=True)

    page.goto(f"{dashboard.url}/ui/runs")
    expect(page.locator(f'tr[data-job="{job_id}"]')).to_have_attribute("data-status", "succeeded")
    page.screenshot(path=str(artifacts / "runs-list.png"), full_page=True)


def test_a_question_is_answered_through_the_form_generated_from_its_schema(
    page: Page, dashboard: Dashboard
) -> None:
    log_in(page, dashboard, dashboard.admin_key)
    page.goto(f"{dashboard.url}/ui/workflows/ui_ask")
    page.fill("input[name=topic]", "q3")
    page.click("form[data-action=run] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/runs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    form = page.locator("form[data-action=answer]")
    expect(form).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator(".question .prompt")).to_have_text("Publish the brief on q3?")
    form.locator("input[name=reviewer]").fill("ana")
    form.locator("input[name=approved]").check()
    form.locator("select[name=level]").select_option(label="high")
    form.locator("input[name=copies]").fill("2")
    form.locator("button[type=submit]").click()
    expect(page.locator("#job-status")).to_have_attribute(
        "data-status", "succeeded", timeout=TIMEOUT_MS
    )
    r = httpx.get(
        f"{dashboard.url}/v1/jobs/{job_id}",
        headers={"Authorization": f"Bearer {dashboard.admin_key}"},
        timeout=10,
    )
    assert r.json()["result"] == {
        "approve": {"reviewer": "ana", "approved": True, "level": "high", "copies": 2}
    }


def test_a_running_job_is_cancelled_from_its_page(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard, dashboard.admin_key)
    job_id = submit_api(dashboard, "ui_hold", {"marker_dir": str(dashboard.marker_dir)})
    page.goto(f"{dashboard.url}/ui/runs/{job_id}")
    expect(node(page, "hold")).to_have_attribute("data-status", "running", timeout=TIMEOUT_MS)
    page.click("button[data-action=cancel]")
    expect(page.locator("#job-status")).to_have_attribute(
        "data-status", "cancelled", timeout=TIMEOUT_MS
    )
    expect(page.locator("button[data-action=cancel]")).to_have_count(0)
    expect(page.locator("button[data-action=retry]")).to_have_count(1)


def test_a_viewer_sees_no_action_buttons(page: Page, dashboard: Dashboard) -> None:
    job_id = submit_api(dashboard, "ui_hold", {"marker_dir": str(dashboard.marker_dir)})
    log_in(page, dashboard, dashboard.viewer_key)
    page.goto(f"{dashboard.url}/ui/runs/{job_id}")
    expect(node(page, "hold")).to_have_attribute("data-status", "running", timeout=TIMEOUT_MS)
    expect(page.locator("[data-action]")).to_have_count(0)
    expect(page.locator("main button")).to_have_count(0)
    page.goto(f"{dashboard.url}/ui/workflows/ui_ask")
    expect(page.locator("form[data-action=run]")).to_have_count(0)
    expect(page.locator("nav a[href='/ui/audit']")).to_have_count(0)
    expect(page.locator("nav a[href='/ui/system']")).to_have_count(0)
    assert page.goto(f"{dashboard.url}/ui/audit").status == 403  # type: ignore[union-attr]
    httpx.post(
        f"{dashboard.url}/v1/jobs/{job_id}/cancel",
        timeout=10,
        headers={"Authorization": f"Bearer {dashboard.admin_key}"},
    )


def test_another_tenants_run_is_not_reachable(page: Page, dashboard: Dashboard) -> None:
    job_id = submit_api(dashboard, "ui_fanout", {"n": 2})
    log_in(page, dashboard, dashboard.other_key)
    response = page.goto(f"{dashboard.url}/ui/runs/{job_id}")
    assert response is not None and response.status == 404
    assert "job_not_found" in response.text()
    page.goto(f"{dashboard.url}/ui/runs")
    expect(page.locator(f'tr[data-job="{job_id}"]')).to_have_count(0)
    stream = page.request.get(f"{dashboard.url}/ui/runs/{job_id}/stream")
    assert stream.status == 404


def test_posts_without_the_csrf_token_are_refused(page: Page, dashboard: Dashboard) -> None:
    job_id = submit_api(dashboard, "ui_hold", {"marker_dir": str(dashboard.marker_dir)})
    log_in(page, dashboard, dashboard.admin_key)
    for path in (
        f"/ui/runs/{job_id}/cancel",
        f"/ui/runs/{job_id}/retry",
        f"/ui/runs/{job_id}/answer",
        "/ui/workflows/ui_hold/run",
        "/ui/logout",
    ):
        r = page.request.post(f"{dashboard.url}{path}", form={"hard": "1"})
        assert r.status == 403, (path, r.text())
        assert r.json()["error"]["code"] == "csrf_invalid"
        r = page.request.post(f"{dashboard.url}{path}", form={"csrf_token": "forged"})
        assert r.json()["error"]["code"] == "csrf_invalid"
    # The job was not cancelled by any of them.
    page.goto(f"{dashboard.url}/ui/runs/{job_id}")
    expect(page.locator("#job-status")).not_to_have_attribute("data-status", "cancelled")
    # A cookie-authenticated stream opened from a foreign page is refused.
    r = page.request.get(
        f"{dashboard.url}/ui/runs/{job_id}/stream", headers={"Origin": "https://evil.example"}
    )
    assert r.status == 403 and r.json()["error"]["code"] == "origin_forbidden"
    httpx.post(
        f"{dashboard.url}/v1/jobs/{job_id}/cancel",
        timeout=10,
        headers={"Authorization": f"Bearer {dashboard.admin_key}"},
    )


def test_no_page_links_outside_the_gateway(page: Page, dashboard: Dashboard) -> None:
    job_id = submit_api(dashboard, "ui_fanout", {"n": 3})
    log_in(page, dashboard, dashboard.admin_key)
    external: list[str] = []
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    for path in (
        "/ui/login",
        "/ui/runs",
        f"/ui/runs/{job_id}",
        "/ui/workflows",
        "/ui/workflows/ui_brief",
        "/ui/system",
        "/ui/audit",
        f"/ui/runs/{job_id}/steps/work/chunks",
    ):
        response = page.goto(f"{dashboard.url}{path}")
        assert response is not None and response.status == 200, path
        html = page.content()
        external += [f"{path}: {u}" for u in URL.findall(html) if not u.startswith(dashboard.url)]
    assert external == []
    assert [u for u in requests if not u.startswith(dashboard.url)] == []


def test_the_runs_list_updates_without_a_reload(page: Page, dashboard: Dashboard) -> None:
    log_in(page, dashboard, dashboard.admin_key)
    job_id = submit_api(dashboard, "ui_hold", {"marker_dir": str(dashboard.marker_dir)})
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row).to_have_attribute("data-status", "running", timeout=TIMEOUT_MS)
    page.evaluate("window.__same_document = true")
    r = httpx.post(f"{dashboard.url}/v1/jobs/{job_id}/cancel", timeout=10,
                   headers={"Authorization": f"Bearer {dashboard.admin_key}"})  # fmt: skip
    assert r.status_code == 202
    expect(row).to_have_attribute("data-status", "cancelled", timeout=TIMEOUT_MS)
    assert page.evaluate("window.__same_document") is True  # polled, not reloaded
