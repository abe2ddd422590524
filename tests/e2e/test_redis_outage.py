"""A worker rides out a Redis restart (issue 11, defect 2).

A private ``redis-server`` (AOF on, in a temporary directory) backs a gateway and one long-lived
worker, both separate processes. Redis is shut down while jobs run and started again on the same
port and directory; the worker, never restarted, finishes every job submitted before and after,
and says once that Redis went away and once that it came back. A ``--one-job`` worker that finds
no Redis exits non-zero, so that KEDA starts another pod.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import wait_until
from tests.e2e.conftest import ROOT, Stack, start_stack
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BEFORE = 6
AFTER = 4


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def outage_stack(private_redis: RedisServer, pg_url: str, tmp_path: Path) -> Iterator[Stack]:
    with start_stack(private_redis.url, pg_url, tmp_path,
                     workflows="tests.e2e.hardening_flows") as s:  # fmt: skip
        yield s


def worker_log(stack: Stack) -> str:
    return (stack.logs / "worker-0.log").read_text(errors="replace")


async def test_a_long_lived_worker_survives_a_redis_restart_and_finishes_every_job(
    outage_stack: Stack, private_redis: RedisServer, tmp_path: Path
) -> None:
    stack = outage_stack
    async with httpx.AsyncClient(base_url=stack.url, headers=stack.headers, timeout=30) as client:

        async def submit(tag: str) -> str:
            r = await client.post("/v1/jobs", json={"workflow": "hard_chain", "inputs": {
                "marker_dir": str(tmp_path), "tag": tag, "pause_seconds": 0.2}})  # fmt: skip
            assert r.status_code == 202, r.text
            return str(r.json()["job_id"])

        jobs = [await submit(f"before{i}") for i in range(BEFORE)]

        async def one_running() -> bool:
            return (tmp_path / "before0-link_a").exists()

        await wait_until(one_running, timeout_seconds=30, what="the first job to run")
        private_redis.stop()

        async def noticed() -> bool:
            return "redis unavailable" in worker_log(stack)

        await wait_until(noticed, timeout_seconds=30, interval_seconds=0.1,
                         what="the worker to notice the outage")  # fmt: skip
        assert stack.workers[0].poll() is None, worker_log(stack)[-3000:]
        private_redis.start()

        async def back() -> bool:
            return "redis back" in worker_log(stack)

        await wait_until(back, timeout_seconds=30, interval_seconds=0.1,
                         what="the worker to see Redis again")  # fmt: skip

        async def gateway_back() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_until(gateway_back, timeout_seconds=30, what="the gateway to see Redis again")
        jobs += [await submit(f"after{i}") for i in range(AFTER)]

        async def all_succeeded() -> bool:
            for job_id in jobs:
                status = (await client.get(f"/v1/jobs/{job_id}")).json()["status"]
                assert status not in ("failed", "cancelled"), (job_id, status)
                if status != "succeeded":
                    return False
            return True

        await wait_until(all_succeeded, timeout_seconds=90, interval_seconds=0.2,
                         what="every job to succeed")  # fmt: skip
        for job_id in jobs:
            view = (await client.get(f"/v1/jobs/{job_id}")).json()
            assert view["result"] == {"link_c": "abc"}

    assert stack.workers[0].poll() is None and len(stack.workers) == 1  # never restarted
    text = worker_log(stack)
    # Once per change of state, not once per poll: a Redis that is shutting down may still
    # answer one more call, so an edge may flap, but an outage of seconds is not hundreds of lines.
    downs, ups = text.count('"redis unavailable"'), text.count('"redis back"')
    assert 1 <= downs <= 3 and ups == downs, text[-3000:]
    assert "Traceback" not in text


def test_a_one_job_worker_without_redis_exits_non_zero(
    private_redis: RedisServer, pg_url: str, tmp_path: Path
) -> None:
    private_redis.stop()
    env = {
        "ORCH_REDIS__URL": private_redis.url,
        "ORCH_DATABASE__URL": pg_url,
        "ORCH_WORKFLOWS": "tests.e2e.hardening_flows",
        "ORCH_WORKER__IDLE_TIMEOUT_SECONDS": "60",
        "PYTHONUNBUFFERED": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "worker", "--one-job"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    # The start-up check (orchestrator/cli/preflight.py) says so in one line, naming Redis.
    assert "Redis" in output and len(output.strip().splitlines()) == 1, output
    assert "Traceback" not in output


async def test_a_one_job_worker_cut_off_mid_job_exits_non_zero_and_the_job_resumes_later(
    private_redis: RedisServer, pg_url: str, tmp_path: Path
) -> None:
    with start_stack(private_redis.url, pg_url, tmp_path, workers=0,
                     workflows="tests.e2e.hardening_flows") as stack:  # fmt: skip
        async with httpx.AsyncClient(base_url=stack.url, headers=stack.headers,
                                     timeout=30) as client:  # fmt: skip
            r = await client.post("/v1/jobs", json={"workflow": "hard_chain", "inputs": {
                "marker_dir": str(tmp_path), "tag": "pod", "pause_seconds": 1.0}})  # fmt: skip
            assert r.status_code == 202, r.text
            job_id = r.json()["job_id"]
            pod = stack.start_worker("--one-job")

            async def second_step_started() -> bool:
                return (tmp_path / "pod-link_b").exists()  # link_a is checkpointed

            await wait_until(second_step_started, timeout_seconds=30, what="link_b to start")
            private_redis.stop()
            code = pod.wait(60)
            log = (stack.logs / "worker-0.log").read_text(errors="replace")
            assert code != 0, log[-3000:]
            assert "redis unavailable" in log and "Traceback" not in log

            private_redis.start()
            stack.start_worker()  # KEDA's next pod, or a long-lived worker

            async def succeeded() -> bool:
                try:
                    view = (await client.get(f"/v1/jobs/{job_id}")).json()
                except httpx.TransportError:
                    return False
                return bool(view.get("status") == "succeeded")

            await wait_until(succeeded, timeout_seconds=60, interval_seconds=0.2,
                             what="the job to be resumed and finished")  # fmt: skip
            view = (await client.get(f"/v1/jobs/{job_id}")).json()
            assert view["result"] == {"link_c": "abc"}
            # The checkpointed step did not run again; the one cut off did.
            assert (tmp_path / "pod-link_a").read_text().count("\n") == 1
            assert (tmp_path / "pod-link_b").read_text().count("\n") == 2
