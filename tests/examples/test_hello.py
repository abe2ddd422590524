"""The ``hello`` example (the chart's first job) through the gateway and a real worker."""

from __future__ import annotations

import socket
from collections.abc import Callable

from examples.hello import hello
from orchestrator.config import Settings
from orchestrator.dag.registry import WorkflowRegistry
from tests.conftest import wait_until
from tests.support.stack import in_process_stack


def test_hello_takes_only_a_name() -> None:
    assert hello.input_names == ["name"]


async def test_hello_streams_a_letter_naming_its_worker(
    isolated_settings: Callable[..., Settings],
) -> None:
    async with in_process_stack(isolated_settings(), WorkflowRegistry([hello])) as stack:
        response = await stack.client.post(
            "/v1/jobs", json={"workflow": "hello", "inputs": {"name": "world"}})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]

        async def done() -> bool:
            state = await stack.services.state.get_job(job_id)
            return state is not None and state.status.is_terminal

        await wait_until(done, what="hello to finish")
        job = (await stack.client.get(f"/v1/jobs/{job_id}")).json()

    assert job["status"] == "succeeded", job
    assert job["result"] == {
        "letter": f"Hello, world!\nWORLD WAS HERE.\n-- written by {socket.gethostname()}\n"
    }
