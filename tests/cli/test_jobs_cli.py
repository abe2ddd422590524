"""`orchestrator submit` and `orchestrator jobs …` against a real gateway and worker (separate
processes): typer's CliRunner in this process, and the real `orchestrator` process for some."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from orchestrator.cli.main import app
from sdk import Client, Job
from tests.cli.conftest import client_env, run_cli
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
WAIT_SECONDS = 30.0


@pytest.fixture
def invoke(live_stack: Stack) -> Callable[..., Result]:
    runner = CliRunner()
    env = {
        "ORCH_GATEWAY__URL": live_stack.url,
        "ORCH_GATEWAY__API_KEY": live_stack.key,
        "COLUMNS": "160",
    }

    def go(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return go


@pytest.fixture
def client(live_stack: Stack) -> Client:
    return Client(live_stack.url, api_key=live_stack.key)


def wait_job(client: Client, job_id: str, ok: Callable[[Job], bool], what: str) -> Job:
    """Poll the job until ``ok`` (bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        job = client.get(job_id)
        if ok(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never got {what}: {job.status}")
        time.sleep(0.05)  # poll interval, bounded by the deadline


def submit_json(invoke: Callable[..., Result], *args: str) -> dict[str, Any]:
    result = invoke("submit", *args, "--json")
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def test_submit_then_follow_list_get_output_and_trace_a_job(
    invoke: Callable[..., Result],
    client: Client,
    tmp_path: Path,
) -> None:
    job = submit_json(
        invoke,
        "e2e_brief",
        "-i",
        f"marker_dir={tmp_path}",
        "-i",
        "topic=cli",
        "-i",
        "chunks=2",
        "--priority",
        "3",
        "--idempotency-key",
        str(tmp_path),
    )
    job_id = job["job_id"]

    events = invoke("jobs", "events", job_id, "--follow", "--json")
    assert events.exit_code == 0, events.output
    kinds = [json.loads(line)["type"] for line in events.stdout.splitlines()]
    assert kinds[0] == "job.queued" and kinds[-1] == "job.succeeded"
    assert kinds.count("step.chunk") == 2

    got = invoke("jobs", "get", job_id, "--json")
    assert got.exit_code == 0
    body = json.loads(got.stdout)
    assert body["status"] == "succeeded"
    assert {s["name"] for s in body["steps"]} == {"fetch_left", "fetch_right", "combine", "render"}
    shown = invoke("jobs", "get", job_id)
    assert "succeeded" in shown.stdout and "render" in shown.stdout

    listed = invoke("jobs", "list", "--workflow", "e2e_brief", "--status", "succeeded", "--json")
    assert job_id in [item["job_id"] for item in json.loads(listed.stdout)["items"]]
    assert job_id[:8] in invoke("jobs", "list", "--limit", "5").stdout

    output = invoke("jobs", "output", job_id, "combine")
    assert output.exit_code == 0 and output.stdout == "left about cli x3\n"

    # Step runs reach the trace store in batches: wait for all four.
    deadline = time.monotonic() + WAIT_SECONDS
    while len(client.trace(job_id).steps) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval, bounded by the deadline
    trace = invoke("jobs", "trace", job_id, "--json")
    assert {s["step"] for s in json.loads(trace.stdout)["steps"]} == {
        "fetch_left",
        "fetch_right",
        "combine",
        "render",
    }
    drawn = invoke("jobs", "trace", job_id)
    assert drawn.exit_code == 0 and "combine" in drawn.stdout and "█" in drawn.stdout

    again = submit_json(
        invoke,
        "e2e_brief",
        "-i",
        f"marker_dir={tmp_path}",
        "-i",
        "topic=cli",
        "-i",
        "chunks=2",
        "--idempotency-key",
        str(tmp_path),
    )
    assert again["job_id"] == job_id and again["replayed"] is True


def test_events_without_follow_print_what_happened_so_far_and_return(
    invoke: Callable[..., Result],
    client: Client,
    tmp_path: Path,
) -> None:
    job_id = submit_json(invoke, "cli_hold", "-i", f"marker_dir={tmp_path}")["job_id"]
    wait_job(client, job_id, lambda j: j.status == "running", "running")

    result = invoke("jobs", "events", job_id)

    assert result.exit_code == 0
    assert "job.started" in result.stdout and "job.succeeded" not in result.stdout
    (tmp_path / "hold-gate").touch()
    wait_job(client, job_id, lambda j: j.status == "succeeded", "succeeded")


def test_cancel_stops_a_running_job_and_a_second_cancel_is_a_conflict(
    invoke: Callable[..., Result],
    client: Client,
    tmp_path: Path,
) -> None:
    job_id = submit_json(invoke, "cli_hold", "-i", f"marker_dir={tmp_path}")["job_id"]
    wait_job(client, job_id, lambda j: j.status == "running", "running")

    cancelled = invoke("jobs", "cancel", job_id, "--json")
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["status"] == "cancelling"
    wait_job(client, job_id, lambda j: j.status == "cancelled", "cancelled")

    again = invoke("jobs", "cancel", job_id)
    assert again.exit_code == 2
    assert "job_state_conflict" in again.stderr


def test_retry_runs_a_failed_job_again(
    invoke: Callable[..., Result],
    client: Client,
    tmp_path: Path,
) -> None:
    (tmp_path / "broken").touch()
    followed = invoke("submit", "cli_flaky", "-i", f"marker_dir={tmp_path}", "--follow")
    assert followed.exit_code == 1  # the job failed
    job_id = client.list(workflow="cli_flaky", limit=1).items[0].job_id
    assert client.get(job_id).status == "failed"

    (tmp_path / "broken").unlink()
    retried = invoke("jobs", "retry", job_id, "--json")

    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout)["steps"] == ["fragile"]
    job = wait_job(client, job_id, lambda j: j.status == "succeeded", "succeeded")
    assert job.result == {"fragile": "fixed"}


def test_answer_with_json_resumes_a_waiting_job_and_a_bad_answer_is_refused(
    invoke: Callable[..., Result],
    client: Client,
) -> None:
    job_id = submit_json(invoke, "cli_approve", "-i", "topic=news")["job_id"]
    waiting = wait_job(client, job_id, lambda j: j.status == "waiting", "waiting")
    assert waiting.questions[0].step == "review"
    assert waiting.questions[0].json_schema is not None
    shown = invoke("jobs", "get", job_id)
    assert "Publish this draft?" in shown.stdout

    bad = invoke("jobs", "answer", job_id, "--json", '{"approved": "maybe"}')
    assert bad.exit_code == 2
    assert "answer_invalid" in bad.stderr

    good = invoke("jobs", "answer", job_id, "--json", '{"approved": true, "note": "ship it"}')
    assert good.exit_code == 0, good.output
    job = wait_job(client, job_id, lambda j: j.status == "succeeded", "succeeded")
    assert job.result == {
        "review": {"text": "draft about news", "approved": True, "note": "ship it"}
    }


def test_submit_follow_in_a_real_process_prints_the_job_id_first_then_the_chunks(
    live_stack: Stack,
    tmp_path: Path,
) -> None:
    proc = run_cli(
        client_env(live_stack),
        "submit",
        "e2e_brief",
        "--follow",
        "-i",
        f"marker_dir={tmp_path}",
        "-i",
        "topic=proc",
        "-i",
        "chunks=3",
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("job ")
    assert proc.stdout.startswith("[0] left about proc x3\n[1] left about proc x3\n")
    assert "succeeded" in proc.stderr


def test_the_api_key_option_is_sent_and_a_wrong_one_is_refused(live_stack: Stack) -> None:
    env = {k: v for k, v in client_env(live_stack).items() if k != "ORCH_GATEWAY__API_KEY"}

    ok = run_cli(env, "jobs", "list", "--api-key", live_stack.key, "--json")
    refused = run_cli(env, "jobs", "list", "--api-key", "not-a-key")

    assert ok.returncode == 0, ok.stderr
    assert refused.returncode == 2
    assert "unauthenticated" in refused.stderr and "Traceback" not in refused.stderr


def test_api_errors_name_the_known_workflows_and_the_missing_inputs_with_types(
    live_stack: Stack,
) -> None:
    env = client_env(live_stack)

    unknown = run_cli(env, "submit", "no_such_flow")
    missing = run_cli(env, "submit", "e2e_brief", "-i", "topic=x")

    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "workflow_not_found" in unknown.stderr and "e2e_brief" in unknown.stderr
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "inputs_invalid" in missing.stderr
    assert "marker_dir" in missing.stderr and "expects string" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_the_help_names_the_api_key_variable() -> None:
    result = CliRunner().invoke(app, ["submit", "--help"], env={"COLUMNS": "200"})
    assert "ORCH_GATEWAY__API_KEY" in result.stdout
