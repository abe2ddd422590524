"""Answering a waiting job's question at a terminal: the real `orchestrator` process on a
pseudo-terminal (the standard library's ``pty``), typing as a person would."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from sdk import Client
from tests.cli.conftest import ROOT, client_env
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
WAIT_SECONDS = 30.0
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A process on a pseudo-terminal: read what it shows, type into it."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", *args],
            cwd=ROOT,
            env={**env, "TERM": "xterm", "COLUMNS": "120", "LINES": "40"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            close_fds=True,
        )
        os.close(slave)
        self.seen = ""

    def expect(self, text: str) -> None:
        """Read until ``text`` appears on the screen (bounded)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while text not in ANSI.sub("", self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"never saw {text!r}; screen: {ANSI.sub('', self.seen)[-1500:]}"
                )
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the process exited and closed the terminal
                    chunk = b""
                if not chunk:
                    if text not in ANSI.sub("", self.seen):
                        raise AssertionError(
                            f"exited before {text!r}: {ANSI.sub('', self.seen)[-1500:]}"
                        )
                    return
                self.seen += chunk.decode(errors="replace")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def close(self) -> int:
        try:
            code = self.proc.wait(WAIT_SECONDS)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.master)
        return code


def test_submit_follow_answers_the_question_in_place(live_stack: Stack) -> None:
    term = Terminal(client_env(live_stack), "submit", "cli_approve", "-i", "topic=pty", "--follow")
    try:
        term.expect("Publish this draft?")
        term.expect("approved")
        term.type("y")
        term.expect("note")
        term.type("typed at a terminal")
        term.expect("succeeded")
    finally:
        code = term.close()

    assert code == 0
    assert "Traceback" not in term.seen
    job = Client(live_stack.url, api_key=live_stack.key).list(workflow="cli_approve", limit=1)
    assert job.items[0].status == "succeeded"


def test_jobs_answer_without_json_prompts_from_the_schema(live_stack: Stack) -> None:
    client = Client(live_stack.url, api_key=live_stack.key)
    job_id = client.submit("cli_approve", {"topic": "later"}).job_id
    deadline = time.monotonic() + WAIT_SECONDS
    while client.get(job_id).status != "waiting":
        assert time.monotonic() < deadline, "the job never waited"
        time.sleep(0.05)  # poll interval, bounded by the deadline

    term = Terminal(client_env(live_stack), "jobs", "answer", job_id)
    try:
        term.expect("approved")
        term.type("n")
        term.expect("note")
        term.type("not yet")
        term.expect("answered review")
    finally:
        code = term.close()

    assert code == 0
    deadline = time.monotonic() + WAIT_SECONDS
    while (job := client.get(job_id)).status != "succeeded":
        assert time.monotonic() < deadline, f"the job ended {job.status}"
        time.sleep(0.05)  # poll interval, bounded by the deadline
    assert job.result == {
        "review": {"text": "draft about later", "approved": False, "note": "not yet"}
    }
