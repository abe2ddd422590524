"""``ctx.policy`` and ``ctx.prompt`` in a worker: decided as the job's submitter (DESIGN §15).

In-process stack (gateway app and arq worker in this loop, real Redis and PostgreSQL); the
two-process version, with a tag change reaching a running worker, is tests/e2e/test_tags_live.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from orchestrator.types import JobStatus
from tests.support.jobs import submit, wait_for_end
from tests.support.stack import InProcessStack, in_process_stack
from tests.worker import tags_flows

SettingsFactory = Callable[..., Settings]


async def put(stack: InProcessStack, name: str, body: dict[str, Any]) -> None:
    response = await stack.client.put(f"/v1/tags/{name}", json=body)
    assert response.status_code in (200, 201), response.text


async def test_a_step_sees_its_submitters_tools_and_prompt(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(tags={"default_policy": "deny"}),
                                tags_flows.registry()) as stack:  # fmt: skip
        await put(stack, "acme", {"kind": "company", "payload": {"content": "Acme rules."}})
        await put(
            stack,
            "submitters",
            {
                "kind": "role",
                "payload": {
                    "config": {"assigned_roles": ["submitter"], "allowed_tools": ["time/*"]},
                    "content": "You submit.",
                },
            },
        )
        await put(
            stack,
            "admins",
            {
                "kind": "role",
                "payload": {
                    "config": {"assigned_roles": ["admin"], "allowed_tools": ["git/*"]},
                    "content": "You run it.",
                },
            },
        )
        await put(
            stack,
            "summarize",
            {
                "kind": "function",
                "payload": {"config": {"assigned_roles": ["*"]}, "content": "Three bullets."},
            },
        )
        _, key = await ApiKeyStore(stack.services.trace.engine).create(stack.tenant, "submitter")
        submitted = await stack.client.post(
            "/v1/jobs",
            json={"workflow": "policy_probe", "inputs": {}},
            headers={"Authorization": f"Bearer {key}"},
        )
        job_id = submitted.json()["job_id"]
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED, state.error
        assert state.result == {"inspect_policy": {
            "visible": ["time/now"], "tags": ["acme", "submitters"], "intent": "policy_probe",
            "prompt": "Acme rules.\n\nYou submit.",
            "other_prompt": "Acme rules.\n\nYou submit.\n\nThree bullets.",
            "user": state.user_id,
        }}  # fmt: skip
        assert (state.user_id or "").startswith("key:")


async def test_a_refused_tool_fails_the_step_once_with_tool_forbidden_and_an_audit_row(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), tags_flows.registry()) as stack:
        await put(
            stack,
            "only-time",
            {"kind": "company", "payload": {"config": {"denied_tools": ["git/*"]}}},
        )
        job_id = await submit(stack, "forbidden_call")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.FAILED
        assert state.steps["call_git"].attempt == 1  # retries=3, none used
        error = (state.error or {})["details"]["error"]
        assert error["code"] == "tool_forbidden"
        assert error["details"] == {"tool": "git/git_log", "tag": "only-time"}
        rows = (await stack.client.get("/v1/audit", params={"action": "tool.refused"})).json()
        [row] = rows["items"]
        assert row["job_id"] == job_id
        assert row["details"]["tool"] == "git/git_log"
        assert row["details"]["tag"] == "only-time"
        assert row["details"]["step"] == "call_git"
        assert row["actor"] == state.user_id


async def test_a_scope_refuses_max_count_50_and_allows_5_in_a_step(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), tags_flows.registry()) as stack:
        await put(
            stack,
            "history",
            {
                "kind": "role",
                "payload": {
                    "config": {
                        "assigned_roles": ["admin"],
                        "allowed_tools": ["git/git_log"],
                        "tool_scopes": {
                            "git/git_log": {"properties": {"max_count": {"maximum": 5}}}
                        },
                    }
                },
            },
        )
        job_id = await submit(stack, "scoped_call")
        state = await wait_for_end(stack.services, job_id)

        assert state.status is JobStatus.SUCCEEDED, state.error
        assert state.result == {
            "scoped_git": {"five": True, "fifty": [False, "history", "max_count", {"maximum": 5}]}
        }
