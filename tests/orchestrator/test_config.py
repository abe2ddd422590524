"""``Settings``: ``ORCH_`` environment variables, nested sections with ``__``, masked output."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.config import Settings, mask_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No ``ORCH_*`` variable and no ``.env`` file from the machine running the tests."""
    import os

    for name in list(os.environ):
        if name.startswith("ORCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def test_orch_workflows_is_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_WORKFLOWS", "examples.repo_brief, myapp.flows ,,")

    assert Settings().workflows == ["examples.repo_brief", "myapp.flows"]


def test_a_single_workflow_module_is_a_list_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_WORKFLOWS", "examples.repo_brief")

    assert Settings().workflows == ["examples.repo_brief"]


def test_no_workflow_modules_by_default() -> None:
    assert Settings().workflows == []


def test_a_nested_section_is_read_from_a_double_underscore_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCH_REDIS__URL", "redis://cache:6379/2")
    monkeypatch.setenv("ORCH_STATE__TTL_SECONDS", "120")
    monkeypatch.setenv("ORCH_LEASE__TTL_SECONDS", "2.5")

    settings = Settings()

    assert settings.redis.url == "redis://cache:6379/2"
    assert settings.state.ttl_seconds == 120
    assert settings.lease.ttl_seconds == 2.5


def test_a_dot_env_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ORCH_DATABASE__URL=sqlite+aiosqlite:///x.db\n")

    assert Settings().database.url == "sqlite+aiosqlite:///x.db"


def test_the_state_key_prefix_defaults_to_orch() -> None:
    assert Settings().state.key_prefix == "orch"


def test_masked_hides_the_password_of_each_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_REDIS__URL", "redis://default:s3cret-redis@cache:6379/0")
    monkeypatch.setenv("ORCH_DATABASE__URL", "postgresql+asyncpg://app:s3cret-pg@db:5432/orch")

    masked = Settings().masked()

    assert masked["redis"]["url"] == "redis://default:***@cache:6379/0"
    assert masked["database"]["url"] == "postgresql+asyncpg://app:***@db:5432/orch"
    assert "s3cret" not in json.dumps(masked)


def test_masked_hides_the_gateway_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_GATEWAY__API_KEY", "s3cret-key")

    settings = Settings()

    assert settings.gateway.api_key is not None
    assert settings.gateway.api_key.get_secret_value() == "s3cret-key"
    assert "s3cret" not in json.dumps(settings.masked())


def test_masked_leaves_urls_without_a_password_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_REDIS__URL", "redis://cache:6379/0")

    assert Settings().masked()["redis"]["url"] == "redis://cache:6379/0"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:pw@host:6379", "redis://:***@host:6379"),
        ("redis://user:p@ss:w0rd@host/1", "redis://user:***@host/1"),
        ("redis://user@host", "redis://user@host"),
        ("sqlite+aiosqlite:///file.db", "sqlite+aiosqlite:///file.db"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url_replaces_only_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked
