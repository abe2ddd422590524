"""Every route declares a permission, and every role gets exactly what the table grants.

The route list comes from the app itself, so a new route without ``Depends(require(...))`` or
without a row in :data:`EXPECTED` fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute

from gateway.app import ROUTERS, create_app
from gateway.auth import Requirement
from orchestrator.auth import KEY_ROLES, ApiKeyStore, Permission, Role
from orchestrator.auth.roles import allows
from orchestrator.config import Settings
from tests.gateway import flows
from tests.support.stack import in_process_stack

SettingsFactory = Callable[..., Settings]
P = Permission

EXPECTED: dict[tuple[str, str], Permission] = {
    ("POST", "/v1/jobs"): P.JOB_SUBMIT,
    ("POST", "/v1/jobs/batch"): P.JOB_SUBMIT,
    ("GET", "/v1/jobs"): P.JOB_READ,
    ("GET", "/v1/jobs/{job_id}"): P.JOB_READ,
    ("POST", "/v1/jobs/{job_id}/cancel"): P.JOB_CANCEL,
    ("GET", "/v1/jobs/{job_id}/steps/{step}/output"): P.JOB_READ,
    ("POST", "/v1/jobs/{job_id}/retry"): P.JOB_RETRY,
    ("POST", "/v1/jobs/{job_id}/input"): P.JOB_INPUT,
    ("GET", "/v1/jobs/{job_id}/trace"): P.JOB_READ,
    ("GET", "/v1/usage"): P.JOB_READ,
    ("GET", "/v1/jobs/{job_id}/events"): P.JOB_READ,
    ("WS", "/v1/jobs/{job_id}/ws"): P.JOB_READ,
    ("GET", "/v1/workflows"): P.WORKFLOW_READ,
    ("GET", "/v1/workflows/{name}"): P.WORKFLOW_READ,
    ("GET", "/v1/system/queue-depth"): P.SYSTEM_READ,
    ("GET", "/v1/system/metrics"): P.SYSTEM_READ,
    ("GET", "/healthz"): P.PUBLIC,
    ("GET", "/readyz"): P.PUBLIC,
    ("GET", "/metrics"): P.SYSTEM_READ,
    ("GET", "/v1/audit"): P.AUDIT_READ,
    ("GET", "/v1/tools"): P.TOOL_READ,
    ("POST", "/v1/tools/{server}/{tool}:call"): P.TOOL_CALL,
    ("GET", "/v1/tags"): P.TAG_READ,
    ("GET", "/v1/tags/{tag}"): P.TAG_READ,
    ("PUT", "/v1/tags/{tag}"): P.TAG_WRITE,
    ("DELETE", "/v1/tags/{tag}"): P.TAG_WRITE,
    ("GET", "/v1/tags/{tag}/versions"): P.TAG_READ,
    ("POST", "/v1/agent/execute"): P.JOB_SUBMIT,
    ("GET", "/v1/agents"): P.WORKFLOW_READ,
    ("GET", "/v1/tasks"): P.JOB_READ,
    ("GET", "/v1/tasks/{task_id}"): P.JOB_READ,
    ("GET", "/v1/tasks/{task_id}/events"): P.JOB_READ,
    ("GET", "/v1/policy/effective"): P.POLICY_READ,
    ("GET", "/v1/flows"): P.JOB_SUBMIT,
    ("GET", "/v1/flows/schema"): P.JOB_READ,
    ("POST", "/v1/flows/validate"): P.JOB_SUBMIT,
    ("GET", "/v1/flows/{name}"): P.JOB_SUBMIT,
    ("POST", "/v1/sessions"): P.JOB_SUBMIT,
    ("GET", "/v1/sessions/{session_id}"): P.JOB_READ,
    ("GET", "/v1/sessions/{session_id}/messages"): P.JOB_READ,
    ("POST", "/v1/sessions/{session_id}/interact"): P.JOB_SUBMIT,
    ("POST", "/v1/sessions/{session_id}/cancel"): P.JOB_CANCEL,
    ("GET", "/v1/sessions/{session_id}/events"): P.JOB_READ,
    ("WS", "/v1/sessions/{session_id}/ws"): P.JOB_READ,
}
"""The permission each route needs: changing one is a reviewed decision."""


def requirements(dependant: Dependant) -> list[Requirement]:
    found = [dependant.call] if isinstance(dependant.call, Requirement) else []
    for sub in dependant.dependencies:
        found.extend(requirements(sub))
    return found  # type: ignore[return-value]


def declared() -> dict[tuple[str, str], Permission]:
    table: dict[tuple[str, str], Permission] = {}
    for route in (r for router in ROUTERS for r in router.routes):
        if isinstance(route, APIRoute | APIWebSocketRoute):
            reqs = requirements(route.dependant)
            assert len(reqs) == 1, f"{route.path} declares {len(reqs)} permissions"
            methods = route.methods if isinstance(route, APIRoute) else {"WS"}
            for method in methods:
                table[(method, route.path)] = reqs[0].permission
    return table


def test_every_route_declares_the_permission_of_the_table(
    isolated_settings: SettingsFactory,
) -> None:
    assert declared() == EXPECTED
    # And nothing reaches the API outside those routers (the OpenAPI document lists them all).
    paths = create_app(isolated_settings()).openapi()["paths"]
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert documented <= set(EXPECTED)


def body_for(method: str, path: str) -> dict[str, Any] | None:
    if path == "/v1/jobs" and method == "POST":
        return {"workflow": "greeting", "inputs": {"word": "hi", "count": 2}}
    if path == "/v1/jobs/batch":
        return {"jobs": [{"workflow": "greeting", "inputs": {"word": "hi", "count": 2}}]}
    if path.endswith("/input"):
        return {"answer": "yes"}
    if path == "/v1/tags/{tag}" and method == "PUT":
        return {"kind": "role", "payload": {"config": {"allowed_tools": ["time/*"]}}}
    return None


async def test_each_role_reaches_exactly_the_routes_its_permissions_allow(
    isolated_settings: SettingsFactory,
) -> None:
    metrics_token = "metrics-" + uuid.uuid4().hex
    settings = isolated_settings(auth={"metrics_token": metrics_token})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        store = ApiKeyStore(stack.services.trace.engine)
        keys = {role: (await store.create(stack.tenant, role, role.value))[1] for role in KEY_ROLES}
        # The job belongs to the tenant's submitter, so every role of the tenant may see it.
        submitted = await stack.client.post(
            "/v1/jobs", json=body_for("POST", "/v1/jobs"),
            headers={"Authorization": f"Bearer {keys[Role.SUBMITTER]}"},
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]
        # The stream's own job, cancelled and never retried, so its stream ends after the replay
        # (the matrix retries job_id, and a retried job's stream goes on past its old end).
        streamed = await stack.client.post(
            "/v1/jobs", json=body_for("POST", "/v1/jobs"),
            headers={"Authorization": f"Bearer {keys[Role.SUBMITTER]}"},
        )
        stream_job_id = streamed.json()["job_id"]
        cancelled = await stack.client.post(
            f"/v1/jobs/{stream_job_id}/cancel",
            headers={"Authorization": f"Bearer {keys[Role.ADMIN]}"},
        )
        assert cancelled.json()["status"] == "cancelled"
        callers: dict[str, tuple[Role | None, dict[str, str]]] = {
            role.value: (role, {"Authorization": f"Bearer {key}"}) for role, key in keys.items()
        }
        callers["metrics-token"] = (Role.METRICS, {"Authorization": f"Bearer {metrics_token}"})
        callers["nobody"] = (None, {})
        mismatches = []
        for (method, path), permission in EXPECTED.items():
            if method == "WS":
                continue  # tests/gateway/test_auth.py covers the WebSocket's refusals
            url = path.format(job_id=job_id, step="repeat", name="greeting", server="none",
                              tool="none", tag="matrix", task_id="none",
                              session_id="matrix")  # unknown: 404 for those who may
            if path == "/v1/jobs/{job_id}/events":
                url = path.format(job_id=stream_job_id) + "?after=0-1"
            for who, (role, headers) in callers.items():
                response = await stack.client.request(
                    method, url, json=body_for(method, path),
                    headers={**headers, "Authorization": headers.get("Authorization", "")},
                )  # fmt: skip
                status = response.status_code
                if permission is P.PUBLIC:
                    ok = status < 400 or (path == "/readyz" and status == 503)
                elif role is None:
                    ok = status == 401 and response.json()["error"]["code"] == "unauthenticated"
                elif not allows(role, permission):
                    ok = status == 403 and response.json()["error"]["code"] == "forbidden"
                else:
                    ok = status not in (401, 403) and status < 500
                if not ok:
                    mismatches.append((who, method, url, status, response.text[:200]))
        assert mismatches == []
