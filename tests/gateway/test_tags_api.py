"""``/v1/tags`` and ``/v1/policy/effective`` through the in-process stack (real Redis, PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from tests.gateway import flows
from tests.support.stack import InProcessStack, in_process_stack

SettingsFactory = Callable[..., Settings]

READERS = {
    "kind": "role",
    "payload": {
        "meta": {"title": "Readers", "description": "May read git history", "owner": "sec"},
        "config": {"assigned_roles": ["submitter"], "allowed_tools": ["git/git_log", "time/*"],
                   "tool_scopes": {"git/git_log": {"properties": {"max_count": {"maximum": 5}}}}},
        "content": "You may read history, never write it.",
    },
}  # fmt: skip


@pytest_asyncio.fixture(loop_scope="session")
async def stack(isolated_settings: SettingsFactory) -> AsyncIterator[InProcessStack]:
    settings = isolated_settings(tags={"org_admin_tenants": ["org-root"]})
    async with in_process_stack(settings, flows.registry(), with_worker=False) as s:
        yield s


async def key_for(stack: InProcessStack, role: str, tenant: str | None = None) -> dict[str, str]:
    _, key = await ApiKeyStore(stack.services.trace.engine).create(tenant or stack.tenant, role)
    return {"Authorization": f"Bearer {key}"}


def code_of(response: Any) -> str:
    return str(response.json()["error"]["code"])


async def test_a_put_tag_is_created_then_read_listed_and_versioned(stack: InProcessStack) -> None:
    created = await stack.client.put("/v1/tags/readers", json=READERS)
    got = await stack.client.get("/v1/tags/readers")
    listed = await stack.client.get("/v1/tags")

    assert created.status_code == 201, created.text
    assert created.json()["changed"] is True and created.json()["version"] == 1
    assert got.status_code == 200
    assert got.json()["payload"] == {
        **READERS["payload"],
        "config": {
            **READERS["payload"]["config"],  # type: ignore[dict-item]
            "assigned_users": [],
            "org_scope": [],
            "intents": [],
            "denied_tools": [],
        },
    }
    assert got.json()["tenant_id"] == stack.tenant
    assert [t["tag"] for t in listed.json()["items"]] == ["readers"]


async def test_putting_the_same_tag_twice_makes_no_new_version(stack: InProcessStack) -> None:
    await stack.client.put("/v1/tags/same", json=READERS)

    again = await stack.client.put("/v1/tags/same", json={"tag": "same", **READERS})
    versions = await stack.client.get("/v1/tags/same/versions")

    assert again.status_code == 200 and again.json()["changed"] is False
    assert [v["version"] for v in versions.json()["items"]] == [1]


async def test_a_change_and_a_delete_are_versions_with_their_authors(stack: InProcessStack) -> None:
    await stack.client.put("/v1/tags/hist", json=READERS)
    changed = await stack.client.put("/v1/tags/hist", json={**READERS, "kind": "function"})
    other_admin = await key_for(stack, "admin")
    deleted = await stack.client.delete("/v1/tags/hist", headers=other_admin)
    versions = await stack.client.get("/v1/tags/hist/versions")
    gone = await stack.client.get("/v1/tags/hist")

    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert deleted.status_code == 200 and deleted.json() == {
        "tag": "hist",
        "deleted": True,
        "version": 2,
    }
    items = versions.json()["items"]
    assert [(v["version"], v["action"]) for v in items] == [(1, "put"), (2, "put"), (3, "delete")]
    first_admin = changed.json()["updated_by"]
    assert [v["author"] for v in items][:2] == [first_admin, first_admin]
    assert items[2]["author"].startswith("key:") and items[2]["author"] != first_admin
    assert gone.status_code == 404 and code_of(gone) == "tag_not_found"
    assert code_of(await stack.client.delete("/v1/tags/hist")) == "tag_not_found"


async def test_changes_are_audited(stack: InProcessStack) -> None:
    await stack.client.put("/v1/tags/audited", json=READERS)
    await stack.client.delete("/v1/tags/audited")

    puts = (await stack.client.get("/v1/audit", params={"action": "tag.put"})).json()["items"]
    deletes = (await stack.client.get("/v1/audit", params={"action": "tag.delete"})).json()["items"]

    assert {"tag": "audited", "kind": "role", "version": 1} in [p["details"] for p in puts]
    assert {"tag": "audited", "version": 2} in [d["details"] for d in deletes]


async def test_list_filters_by_kind(stack: InProcessStack) -> None:
    await stack.client.put("/v1/tags/co", json={"kind": "company"})
    await stack.client.put("/v1/tags/fn", json={"kind": "function"})

    companies = await stack.client.get("/v1/tags", params={"kind": "company"})
    bad = await stack.client.get("/v1/tags", params={"kind": "wizard"})

    assert [t["tag"] for t in companies.json()["items"]] == ["co"]
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"kind": "role", "payload": {"config": {"allowed_tools": ["git_log"]}}},
            "payload.config.allowed_tools.0",
        ),
        (
            {
                "kind": "role",
                "payload": {
                    "config": {
                        "tool_scopes": {
                            "git/git_log": {"properties": {"max_count": {"maximum": "five"}}}
                        }
                    }
                },
            },
            "payload.config.tool_scopes.git/git_log",
        ),
        (
            {"kind": "role", "payload": {"config": {"tool_scopes": {"git": {}}}}},
            "payload.config.tool_scopes.git.[key]",
        ),
        ({"tag": "other", "kind": "role"}, "tag"),
        ({"kind": "sorcerer"}, "kind"),
        ({"kind": "role", "payload": {"content": "a\u0000b"}}, "payload.content"),  # NUL: PG
        ({"kind": "role", "payload": {"meta": {"title": "\ud800"}}}, "payload.meta.title"),
        (
            {"kind": "role", "payload": {"config": {"org_scope": ["someone-else"]}}},
            "payload.config.org_scope",
        ),
    ],
)
async def test_a_bad_tag_is_422_naming_the_field_and_nothing_is_written(
    stack: InProcessStack, body: dict[str, Any], field: str
) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"

    # as JSON text with \u escapes: a lone surrogate is valid JSON, not encodable UTF-8
    response = await stack.client.put(f"/v1/tags/{name}", content=json.dumps(body),
                                      headers={"Content-Type": "application/json"})  # fmt: skip

    assert response.status_code == 422, response.text
    assert code_of(response) == "tag_invalid"
    assert response.json()["error"]["details"]["field"] == field
    assert (await stack.client.get(f"/v1/tags/{name}")).status_code == 404
    assert (await stack.client.get(f"/v1/tags/{name}/versions")).status_code == 404


async def test_a_bad_name_in_the_path_is_422(stack: InProcessStack) -> None:
    put = await stack.client.put("/v1/tags/has%20space", json={"kind": "role"})
    got = await stack.client.get("/v1/tags/has%20space")

    assert put.status_code == 422 and code_of(put) == "tag_invalid"
    assert got.status_code == 422


async def test_another_tenants_tag_is_not_found(stack: InProcessStack) -> None:
    await stack.client.put("/v1/tags/private", json=READERS)
    other = await key_for(stack, "admin", tenant=f"other-{uuid.uuid4().hex[:6]}")

    for method, path in (("GET", "/v1/tags/private"), ("GET", "/v1/tags/private/versions"),
                         ("DELETE", "/v1/tags/private")):  # fmt: skip
        response = await stack.client.request(method, path, headers=other)
        assert response.status_code == 404 and code_of(response) == "tag_not_found"
    listed = await stack.client.get("/v1/tags", headers=other)
    assert listed.json()["items"] == []


async def test_only_admins_manage_tags_and_read_policies(stack: InProcessStack) -> None:
    for role in ("operator", "submitter", "viewer"):
        headers = await key_for(stack, role)
        for method, path in (
            ("GET", "/v1/tags"),
            ("GET", "/v1/tags/x"),
            ("PUT", "/v1/tags/x"),
            ("DELETE", "/v1/tags/x"),
            ("GET", "/v1/tags/x/versions"),
            ("GET", "/v1/policy/effective"),
        ):
            response = await stack.client.request(
                method, path, headers=headers, json={"kind": "role"} if method == "PUT" else None
            )
            assert (response.status_code, code_of(response)) == (403, "forbidden"), (role, path)


async def test_an_org_admin_tenant_may_scope_a_tag_to_other_tenants(
    stack: InProcessStack,
) -> None:
    org = await key_for(stack, "admin", tenant="org-root")

    response = await stack.client.put(
        f"/v1/tags/org-{uuid.uuid4().hex[:6]}", headers=org,
        json={"kind": "company", "payload": {"config": {"org_scope": ["org-root", stack.tenant],
                                                        "denied_tools": ["git/*"]}}},
    )  # fmt: skip
    policy = await stack.client.get(
        "/v1/policy/effective", params={"user": "user:x", "tool": ["git/git_log"]}
    )

    assert response.status_code == 201, response.text
    assert policy.json()["hidden"][0]["tool"] == "git/git_log"


async def test_the_effective_policy_shows_tools_scopes_prompt_and_visibility(
    stack: InProcessStack,
) -> None:
    await stack.client.put("/v1/tags/eff-readers", json=READERS)
    await stack.client.put(
        "/v1/tags/eff-company",
        json={
            "kind": "company",
            "payload": {
                "config": {"denied_tools": ["time/convert_time"]},
                "content": "Acme rules.",
            },
        },
    )
    await stack.client.put(
        "/v1/tags/summarize",
        json={
            "kind": "function",
            "payload": {
                "config": {"assigned_roles": ["*"]},
                "content": "Summarize in three bullets.",
            },
        },
    )

    response = await stack.client.get(
        "/v1/policy/effective",
        params={
            "user": "user:alice",
            "role": "submitter",
            "intent": "summarize",
            "tool": ["git/git_log", "git/git_commit", "time/get_current_time", "time/convert_time"],
        },
    )

    body = response.json()
    assert response.status_code == 200, response.text
    assert (body["user_id"], body["role"], body["intent"]) == (
        "user:alice",
        "submitter",
        "summarize",
    )
    assert body["default_policy"] == "allow"
    assert body["visible"] == ["git/git_log", "git/git_commit", "time/get_current_time"]
    assert body["hidden"] == [
        {"tool": "time/convert_time", "tag": "eff-company", "reason": body["hidden"][0]["reason"]}
    ]
    assert body["prompt"].startswith("Acme rules.\n\n")
    assert body["prompt"].endswith("Summarize in three bullets.")
    assert {
        "pattern": "git/git_log",
        "tag": "eff-readers",
        "schema": {"properties": {"max_count": {"maximum": 5}}},
    } in body["scopes"]


async def test_the_effective_policy_follows_a_change_at_once(stack: InProcessStack) -> None:
    params = {"user": "user:bob", "role": "operator", "tool": ["fs/write"]}
    before = (await stack.client.get("/v1/policy/effective", params=params)).json()
    await stack.client.put(
        "/v1/tags/no-fs",
        json={
            "kind": "role",
            "payload": {"config": {"assigned_roles": ["operator"], "denied_tools": ["fs/*"]}},
        },
    )

    after = (await stack.client.get("/v1/policy/effective", params=params)).json()

    assert before["visible"] == ["fs/write"]
    assert after["visible"] == [] and after["hidden"][0]["tag"] == "no-fs"
    assert after["generation"] > before["generation"]


async def test_the_effective_policy_defaults_to_the_caller(stack: InProcessStack) -> None:
    response = await stack.client.get("/v1/policy/effective")

    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert response.json()["tenant_id"] == stack.tenant
    assert response.json()["visible"] is None
