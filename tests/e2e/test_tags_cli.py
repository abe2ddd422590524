"""``orchestrator tags apply|list|show`` against a gateway process, as GitOps would run it."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import ROOT, Stack, start_stack

pytestmark = pytest.mark.e2e

TAGS = [
    {"tag": "acme", "kind": "company",
     "payload": {"config": {"denied_tools": ["deploy/*"]}, "content": "You work for Acme."}},
    {"tag": "history", "kind": "role",
     "payload": {"meta": {"title": "History readers"},
                 "config": {"assigned_roles": ["submitter"], "allowed_tools": ["git/git_log"],
                            "tool_scopes": {"git/git_log": {
                                "properties": {"max_count": {"maximum": 5}}}}}}},
]  # fmt: skip


def cli(
    stack: Stack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "tags", *args],
        cwd=ROOT, env={**stack.env, "ORCH_GATEWAY__URL": stack.url, **(env or {})},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def gateway(redis_url: str, pg_url: str, tmp_path: Path) -> Stack:
    with start_stack(redis_url, pg_url, tmp_path, workers=0) as stack:
        yield stack  # type: ignore[misc]


def test_apply_is_idempotent_and_list_and_show_read_back(gateway: Stack, tmp_path: Path) -> None:
    file = tmp_path / "tags.yaml"
    file.write_text(yaml.safe_dump(TAGS))

    first = cli(gateway, "apply", str(file))
    second = cli(gateway, "apply", str(file))
    changed = copy.deepcopy(TAGS)
    changed[1]["payload"]["config"]["allowed_tools"] = ["git/*"]  # type: ignore[index]
    file.write_text(yaml.safe_dump({"tags": changed}))
    third = cli(gateway, "apply", str(file))
    listed = cli(gateway, "list")
    shown = cli(gateway, "show", "history")
    history = cli(gateway, "show", "history", "--versions")

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["created\tacme\tv1", "created\thistory\tv1"]
    assert second.stdout.splitlines() == ["unchanged\tacme\tv1", "unchanged\thistory\tv1"]
    assert third.stdout.splitlines() == ["unchanged\tacme\tv1", "updated\thistory\tv2"]
    assert [line.split("\t")[:3] for line in listed.stdout.splitlines()[1:]] == [
        ["acme", "company", "1"],
        ["history", "role", "2"],
    ]
    assert yaml.safe_load(shown.stdout)["payload"]["config"]["allowed_tools"] == ["git/*"]
    assert [line.split("\t")[:2] for line in history.stdout.splitlines()] == [
        ["v1", "put"],
        ["v2", "put"],
    ]


def test_prune_deletes_the_tags_the_file_does_not_name(gateway: Stack, tmp_path: Path) -> None:
    file = tmp_path / "tags.yaml"
    file.write_text(yaml.safe_dump(TAGS))
    assert cli(gateway, "apply", str(file)).returncode == 0
    file.write_text(yaml.safe_dump(TAGS[:1]))

    pruned = cli(gateway, "apply", "--prune", str(file))

    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.splitlines() == ["unchanged\tacme\tv1", "deleted\thistory\tv1"]
    assert cli(gateway, "show", "history").returncode == 2


def test_a_bad_file_is_one_line_and_sends_nothing(gateway: Stack, tmp_path: Path) -> None:
    file = tmp_path / "tags.yaml"
    bad = [TAGS[0], {"tag": "broken", "kind": "role",
                     "payload": {"config": {"allowed_tools": ["no-slash"]}}}]  # fmt: skip
    file.write_text(yaml.safe_dump(bad))

    result = cli(gateway, "apply", str(file))

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "broken" in result.stderr and "payload.config.allowed_tools.0" in result.stderr
    assert cli(gateway, "list").stdout.splitlines()[1:] == []  # acme was not sent either


def test_a_non_admin_key_or_no_gateway_is_one_line(gateway: Stack, tmp_path: Path) -> None:
    created = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "keys", "create", "--tenant", "t",
         "--role", "viewer"], cwd=ROOT, env=gateway.env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    viewer = {"ORCH_GATEWAY__API_KEY": created.stdout.strip()}

    refused = cli(gateway, "list", env=viewer)
    unreachable = cli(gateway, "list", "--url", "http://127.0.0.1:9")

    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "[forbidden]" in refused.stderr
    assert unreachable.returncode == 2 and len(unreachable.stderr.strip().splitlines()) == 1
