"""``POST /v1/jobs/batch`` (issue 19): each item validated and answered on its own, idempotency
keys honoured (across requests and inside one batch), the limits, tenant isolation, the audit
row of each job, and the jobs run by a worker."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from tests.gateway import flows
from tests.support.jobs import wait_for_end
from tests.support.stack import in_process_stack

SettingsFactory = Callable[..., Settings]
GREETING = {"workflow": "greeting", "inputs": {"word": "hi", "count": 2}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_each_item_is_answered_on_its_own_and_the_valid_ones_are_recorded_queued_and_run(
    isolated_settings: SettingsFactory,
) -> None:
    items: list[Any] = [
        GREETING,
        {"workflow": "nope", "inputs": {}},
        {"workflow": "greeting", "inputs": {"word": "hi"}},  # count missing
        {"workflow": "greeting", "inputs": {"word": "hi", "count": 1}, "bogus": 1},
        {"workflow": "greeting", "inputs": {"word": "a\u0000b", "count": 1}},
        {**GREETING, "priority": 5},
    ]
    async with in_process_stack(isolated_settings(), flows.registry()) as stack:
        response = await stack.client.post("/v1/jobs/batch", json={"jobs": items})
        assert response.status_code == 200
        body = response.json()
        answers = body["jobs"]
        assert [a["index"] for a in answers] == list(range(len(items)))
        assert [a["status_code"] for a in answers] == [202, 404, 422, 422, 422, 202]
        assert [a["error"]["code"] if a["error"] else None for a in answers] == [
            None, "workflow_not_found", "inputs_invalid", "request_invalid", "inputs_invalid",
            None]  # fmt: skip
        assert (body["accepted"], body["refused"]) == (2, 4)
        created = [a["job_id"] for a in answers if a["job_id"]]
        for job_id in created:
            row = await stack.services.trace.get_job(job_id)
            assert row is not None and row.tenant_id == stack.tenant
            state = await wait_for_end(stack.services, job_id)
            assert state.status.value == "succeeded"
            audit, _ = await stack.services.trace.list_audit(job_id=job_id, action="job.submit")
            assert len(audit) == 1 and audit[0].details.get("batch") is True
            events = await stack.services.state.read_events(job_id)
            assert [e.type for e in events][:2] == ["job.queued", "job.started"]
        # the valid items' jobs are also visible through the single-job API
        one = await stack.client.get(f"/v1/jobs/{created[0]}")
        assert one.status_code == 200 and one.json()["status"] == "succeeded"


async def test_idempotency_keys_are_honoured_across_requests_and_inside_one_batch(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        single = await stack.client.post("/v1/jobs", json={**GREETING, "idempotency_key": "k1"})
        assert single.status_code == 202
        batch = await stack.client.post("/v1/jobs/batch", json={"jobs": [
            {**GREETING, "idempotency_key": "k1"},  # an earlier request's key
            {**GREETING, "idempotency_key": "k2"},
            {**GREETING, "idempotency_key": "k2"},  # repeated inside the batch
            GREETING,
        ]})  # fmt: skip
        answers = batch.json()["jobs"]
        assert [a["status_code"] for a in answers] == [200, 202, 200, 202]
        assert [a["replayed"] for a in answers] == [True, False, True, False]
        assert answers[0]["job_id"] == single.json()["job_id"]
        assert answers[1]["job_id"] == answers[2]["job_id"]
        again = await stack.client.post("/v1/jobs/batch", json={"jobs": [
            {**GREETING, "idempotency_key": "k2"}]})  # fmt: skip
        assert again.json()["jobs"][0]["job_id"] == answers[1]["job_id"]
        rows, _ = await stack.services.trace.list_audit(tenant_id=stack.tenant,
                                                       action="job.submit")  # fmt: skip
        assert len(rows) == 3  # k1 once, k2 once, the keyless one


async def test_the_limits_are_413_and_422_with_codes_and_the_rate_counts_every_job(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(auth={"submit_rate_per_key": "5/minute",
                                       "max_body_bytes": 4 * 1024 * 1024})  # fmt: skip
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        too_many = await stack.client.post("/v1/jobs/batch", json={"jobs": [GREETING] * 1001})
        empty = await stack.client.post("/v1/jobs/batch", json={"jobs": []})
        not_a_list = await stack.client.post("/v1/jobs/batch", json=[GREETING])
        four = await stack.client.post("/v1/jobs/batch", json={"jobs": [GREETING] * 4})
        two = await stack.client.post("/v1/jobs/batch", json={"jobs": [GREETING] * 2})
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "payload_too_large"
    assert too_many.json()["error"]["details"]["max_jobs"] == 1000
    assert (empty.status_code, empty.json()["error"]["code"]) == (422, "request_invalid")
    assert (not_a_list.status_code, not_a_list.json()["error"]["code"]) == (422, "request_invalid")
    assert four.status_code == 200 and four.json()["accepted"] == 4
    assert (two.status_code, two.json()["error"]["code"]) == (429, "rate_limited")  # 4 + 2 > 5


async def test_a_batch_acts_within_its_tenant_and_needs_the_submit_permission(
    isolated_settings: SettingsFactory,
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        keys = ApiKeyStore(stack.services.trace.engine)
        other = f"other-{uuid.uuid4().hex[:6]}"
        _, other_key = await keys.create(other, "submitter")
        _, viewer = await keys.create(stack.tenant, "viewer")
        mine = await stack.client.post("/v1/jobs/batch", json={"jobs": [GREETING]})
        theirs = await stack.client.post("/v1/jobs/batch", json={"jobs": [
            {**GREETING, "idempotency_key": "same"}]}, headers=bearer(other_key))  # fmt: skip
        again = await stack.client.post("/v1/jobs/batch", json={"jobs": [
            {**GREETING, "idempotency_key": "same"}]})  # fmt: skip
        refused = await stack.client.post("/v1/jobs/batch", json={"jobs": [GREETING]},
                                          headers=bearer(viewer))  # fmt: skip
        job_id = mine.json()["jobs"][0]["job_id"]
        peek = await stack.client.get(f"/v1/jobs/{job_id}", headers=bearer(other_key))
        their_row = await stack.services.trace.get_job(theirs.json()["jobs"][0]["job_id"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert peek.status_code == 404  # another tenant does not see the job
    assert their_row is not None and their_row.tenant_id == other
    # idempotency keys are per tenant: the same key in another tenant is a new job
    assert again.json()["jobs"][0]["replayed"] is False
    assert again.json()["jobs"][0]["job_id"] != theirs.json()["jobs"][0]["job_id"]


async def test_the_sdk_client_submits_a_batch_and_reads_each_answer(
    isolated_settings: SettingsFactory,
) -> None:
    """The SDK's ``AsyncClient.submit_batch`` over the in-process gateway."""
    from sdk import AsyncClient

    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        client = AsyncClient("http://gateway", api_key=stack.key)
        await client._http.aclose()
        client._http = stack.client
        answers = await client.submit_batch([GREETING, {"workflow": "nope"}])
    assert [a.status_code for a in answers] == [202, 404]
    assert answers[0].job_id is not None and answers[1].error is not None
    assert answers[1].error["code"] == "workflow_not_found"


async def test_a_batch_whose_rows_are_refused_is_a_503_that_leaves_no_state_and_no_queue_entry(
    isolated_settings: SettingsFactory,
) -> None:
    """The rows and the states are written at once; PostgreSQL refusing the rows (a real
    trigger raising, for this test's tenant only) must leave no live state and enqueue
    nothing, and the idempotency keys are free again."""
    from sqlalchemy import text

    settings = isolated_settings()
    async with in_process_stack(settings, flows.registry(), with_worker=False) as stack:
        fn = f"refuse_{uuid.uuid4().hex[:10]}"
        ddl = [
            f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.tenant_id = '{stack.tenant}' THEN RAISE EXCEPTION 'refused by test'; "
            "END IF; RETURN NEW; END $$",
            f"CREATE TRIGGER {fn} BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION {fn}()",
        ]
        async with stack.services.trace.engine.begin() as conn:
            for statement in ddl:
                await conn.execute(text(statement))
        try:
            items = [GREETING, {**GREETING, "idempotency_key": "k-refused"}]
            response = await stack.client.post("/v1/jobs/batch", json={"jobs": items})
        finally:
            async with stack.services.trace.engine.begin() as conn:
                await conn.execute(text(f"DROP TRIGGER {fn} ON jobs"))
                await conn.execute(text(f"DROP FUNCTION {fn}()"))
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "trace_unavailable"
        prefix = settings.state.key_prefix
        left = [k async for k in stack.services.redis.scan_iter(f"{prefix}:*")]
        assert not [k for k in left if b":job:" in k or b":events:" in k], left
        assert await stack.services.redis.zcard(settings.queue.name) == 0
        again = await stack.client.post("/v1/jobs/batch", json={"jobs": items})
        assert [a["status_code"] for a in again.json()["jobs"]] == [202, 202]
