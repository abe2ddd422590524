"""``POST /v1/jobs {"flow"}``, ``/v1/flows`` and flow tags through the in-process stack (real
Redis and PostgreSQL): bad flows are 422 naming the step and field, and a flow calling a tool
outside the caller's tags is refused before any step runs (DESIGN §18, §20)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from tests.gateway import flows
from tests.support.stack import InProcessStack, in_process_stack

SettingsFactory = Callable[..., Settings]


@pytest_asyncio.fixture(loop_scope="session")
async def stack(isolated_settings: SettingsFactory) -> AsyncIterator[InProcessStack]:
    settings = isolated_settings(tags={"default_policy": "deny"})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as s:
        yield s


async def key_for(stack: InProcessStack, role: str) -> dict[str, str]:
    _, key = await ApiKeyStore(stack.services.trace.engine).create(stack.tenant, role)
    return {"Authorization": f"Bearer {key}"}


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


BAD_FLOWS = [
    pytest.param(
        {"steps": [{"name": "a", "prompt": "x", "depends_on": ["b"]},
                   {"name": "b", "prompt": "y", "depends_on": ["a"]}]},
        "a", "depends_on", id="cycle"),
    pytest.param({"steps": [{"name": "a", "prompt": "x", "depends_on": ["zz"]}]},
                 "a", "depends_on", id="unknown dependency"),
    pytest.param({"steps": [{"name": "a", "prompt": "{{ steps.gone.output }}"}]},
                 "a", "prompt", id="missing output"),
    pytest.param({"steps": [{"name": "a", "prompt": "{{ inputs.nope }}"}]},
                 "a", "prompt", id="missing input"),
    pytest.param({"steps": [{"name": "a", "prompt": "{{ ''.__class__ }}"}]},
                 "a", "prompt", id="python internals"),
    pytest.param({"steps": [{"name": "a", "tool": "time/get_current_time",
                             "arguments": {"timezone": "{{ inputs['__class__'] }}"}}]},
                 "a", "arguments.timezone", id="internals by key"),
    pytest.param({"steps": [{"name": "a", "prompt": "{{ x|attr('__class__') }}"}]},
                 "a", "prompt", id="attr filter"),
    pytest.param({"steps": [{"name": "a", "prompt": "x", "tool": "time/t"}]},
                 "a", "", id="two kinds"),
    pytest.param({"steps": [{"name": "a", "ask": {"prompt": "q", "schema": {"type": 3}}}]},
                 "a", "ask.schema", id="bad answer schema"),
]  # fmt: skip


@pytest.mark.parametrize(("flow", "step", "field"), BAD_FLOWS)
async def test_a_bad_inline_flow_is_a_422_naming_the_step_and_field(
    stack: InProcessStack, flow: dict[str, Any], step: str, field: str
) -> None:
    r = await stack.client.post("/v1/jobs", json={"flow": flow})

    assert r.status_code == 422, r.text
    error = error_of(r)
    assert error["code"] == "dag_invalid"
    assert error["details"]["step"] == step
    assert error["details"]["field"] == field


@pytest.mark.parametrize(("flow", "step", "field"), BAD_FLOWS)
async def test_a_bad_flow_tag_is_refused_when_put_naming_the_step_and_field(
    stack: InProcessStack, flow: dict[str, Any], step: str, field: str
) -> None:
    r = await stack.client.put(
        "/v1/tags/bad_flow", json={"kind": "flow", "payload": {"content": flow}}
    )

    assert r.status_code == 422, r.text
    assert error_of(r)["code"] == "tag_invalid"
    assert error_of(r)["details"]["step"] == step
    assert error_of(r)["details"]["flow_field"] == field


async def test_an_llm_proposed_flow_calling_a_tool_outside_the_users_tags_is_refused_before_it_runs(
    stack: InProcessStack,
) -> None:
    """Default policy deny; the submitter's role tag grants time/* only."""
    await stack.client.put("/v1/tags/clock_users", json={
        "kind": "role", "payload": {"config": {"assigned_roles": ["submitter"],
                                               "allowed_tools": ["time/*"]}}})  # fmt: skip
    user = await key_for(stack, "submitter")
    proposed = {"steps": [
        {"name": "now", "tool": "time/get_current_time", "arguments": {"timezone": "UTC"}},
        {"name": "leak", "tool": "git/git_log", "arguments": {"repo_path": "/"}},
    ]}  # fmt: skip
    before = (await stack.client.get("/v1/jobs")).json()["total"]

    r = await stack.client.post("/v1/jobs", json={"flow": proposed}, headers=user)
    checked = await stack.client.post("/v1/flows/validate", json=proposed, headers=user)

    assert r.status_code == 403, r.text
    assert error_of(r)["code"] == "tool_forbidden"
    assert error_of(r)["details"]["step"] == "leak"
    assert error_of(r)["details"]["tool"] == "git/git_log"
    assert checked.status_code == 403 and error_of(checked)["code"] == "tool_forbidden"
    assert (await stack.client.get("/v1/jobs")).json()["total"] == before  # nothing was queued
    audit = (await stack.client.get("/v1/audit", params={"action": "tool.refused"})).json()
    assert any(row["details"].get("step") == "leak" for row in audit["items"])


async def test_flows_are_listed_only_to_whom_they_are_assigned(stack: InProcessStack) -> None:
    content = {"inputs": {"tz": {"type": "string"}},
               "steps": [{"name": "now", "tool": "time/get_current_time",
                          "arguments": {"timezone": "{{ inputs.tz }}"}}]}  # fmt: skip
    await stack.client.put("/v1/tags/ops_clock", json={
        "kind": "role", "payload": {"config": {"assigned_roles": ["operator"],
                                               "allowed_tools": ["time/*"]}}})  # fmt: skip
    await stack.client.put("/v1/tags/flow_ops", json={
        "kind": "flow", "payload": {"config": {"assigned_roles": ["operator"]},
                                    "content": content}})  # fmt: skip
    operator, submitter = await key_for(stack, "operator"), await key_for(stack, "submitter")

    seen = (await stack.client.get("/v1/flows", headers=operator)).json()["flows"]
    unseen = (await stack.client.get("/v1/flows", headers=submitter)).json()["flows"]
    refused = await stack.client.post("/v1/jobs", json={"flow": "flow_ops", "inputs": {"tz": "UTC"}},
                                      headers=submitter)  # fmt: skip
    bad_inputs = await stack.client.post("/v1/jobs", json={"flow": "flow_ops", "inputs": {}},
                                         headers=operator)  # fmt: skip

    effective = await stack.client.get(
        "/v1/policy/effective", params={"user": "someone", "role": "operator"}
    )
    assert effective.json()["flows"] == ["flow_ops"]
    assert [f["name"] for f in seen] == ["flow_ops"]
    assert seen[0]["inputs"]["properties"] == {"tz": {"type": "string"}}
    assert [f["name"] for f in unseen if f["name"] == "flow_ops"] == []
    assert refused.status_code == 404 and error_of(refused)["code"] == "tag_not_found"
    assert bad_inputs.status_code == 422 and error_of(bad_inputs)["code"] == "inputs_invalid"


async def test_a_submit_names_exactly_one_of_workflow_and_flow(stack: InProcessStack) -> None:
    both = await stack.client.post("/v1/jobs", json={"workflow": "x", "flow": "y"})
    neither = await stack.client.post("/v1/jobs", json={"inputs": {}})

    assert both.status_code == 422 and neither.status_code == 422


async def test_a_queued_flow_job_shows_its_steps_and_carries_its_definition(
    stack: InProcessStack,
) -> None:
    flow = {"inputs": {"who": {"type": "string"}},
            "steps": [{"name": "greet", "prompt": "Hello {{ inputs.who }}"},
                      {"name": "ask_back", "ask": {"prompt": "{{ steps.greet.output }}?"}}]}  # fmt: skip

    r = await stack.client.post("/v1/jobs", json={"flow": flow, "inputs": {"who": "Ada"}})
    job = (await stack.client.get(f"/v1/jobs/{r.json()['job_id']}")).json()
    live = await stack.services.state.get_job(r.json()["job_id"])

    assert r.status_code == 202 and r.json()["workflow"] == "flow:inline"
    assert [s["name"] for s in job["steps"]] == ["greet", "ask_back"]
    assert live is not None and '"Hello {{ inputs.who }}"' in live.flow
