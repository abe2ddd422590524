"""MCP server configuration: shapes of DESIGN §20, errors naming the server and field, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.mcp.config import (
    BearerAuth,
    EnvSecret,
    FileSecret,
    OAuth2Auth,
    load_servers,
    parse_servers,
    resolve_secret,
)

GOOD = [
    {"name": "git", "transport": "stdio", "command": "python", "args": ["-m", "mcp_server_git"]},
    {"name": "remote", "transport": "http", "url": "https://mcp.example.com/mcp",
     "auth": {"type": "bearer", "token": {"env": "REMOTE_TOKEN"}}, "timeout_seconds": 5,
     "max_concurrency": 2},
    {"name": "crm", "transport": "http", "url": "https://crm.example.com/mcp",
     "auth": {"type": "oauth2", "token_url": "https://idp.example.com/token",
              "client_id": "orch", "client_secret": {"file": "/run/secrets/crm"},
              "scopes": ["crm.read"], "grant": "refresh_token", "per_user": True,
              "resource": "https://crm.example.com/mcp"}},
]  # fmt: skip


def test_the_three_auth_types_and_both_transports_parse() -> None:
    git, remote, crm = parse_servers(GOOD, source="test")

    assert git.transport == "stdio" and git.args == ["-m", "mcp_server_git"]
    assert isinstance(remote.auth, BearerAuth) and remote.auth.token == EnvSecret(
        env="REMOTE_TOKEN"
    )
    assert remote.timeout_seconds == 5 and remote.max_concurrency == 2
    assert isinstance(crm.auth, OAuth2Auth) and crm.auth.per_user
    assert crm.auth.client_secret == FileSecret(file="/run/secrets/crm")
    assert crm.auth.scopes == ["crm.read"] and crm.auth.grant == "refresh_token"


def test_python_as_a_command_is_this_interpreter() -> None:
    import sys

    [git] = parse_servers(GOOD[:1], source="test")
    assert git.command == sys.executable


@pytest.mark.parametrize(
    ("server", "field"),
    [
        ({"name": "x", "transport": "http"}, "(server)"),
        ({"name": "x", "transport": "stdio", "command": "c", "timeout_seconds": 0},
         "timeout_seconds"),
        ({"name": "x", "transport": "http", "url": "u://bad"}, "url"),
        ({"name": "x", "transport": "http", "url": "http://h/mcp",
          "auth": {"type": "oauth2", "client_id": "c"}}, "auth.oauth2.token_url"),
        ({"name": "x", "transport": "http", "url": "http://h/mcp",
          "auth": {"type": "oauth2", "token_url": "http://h/t", "client_id": "c",
                   "grant": "password"}}, "auth.oauth2.grant"),
        ({"name": "x", "transport": "stdio", "command": "c", "surprise": 1}, "surprise"),
    ],
)  # fmt: skip
def test_a_bad_server_fails_at_load_naming_the_server_and_the_field(
    server: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_servers([server], source="ORCH_MCP__SERVERS")

    assert caught.value.code == "config_invalid"
    assert caught.value.details["server"] == "x"
    assert caught.value.details["field"] == field
    assert "'x'" in caught.value.message


def test_a_literal_secret_never_appears_in_an_error_or_the_printed_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "s3cr3t-value"
    bad = {"name": "x", "transport": "http", "url": "http://h/mcp",
           "auth": {"type": "bearer", "token": secret, "extra": 1}}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_servers([bad], source="test")
    assert secret not in str(caught.value.to_dict())

    good = {**bad, "auth": {"type": "bearer", "token": secret}}
    monkeypatch.setenv("ORCH_MCP__SERVERS", json.dumps([good]))
    settings = Settings()
    assert secret not in json.dumps(settings.masked())
    [server] = load_servers(None, settings.mcp.servers)
    assert isinstance(server.auth, BearerAuth) and secret not in repr(server)


def test_secret_references_are_read_at_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    monkeypatch.setenv("MCP_TOKEN_X", "from-env")

    assert resolve_secret(FileSecret(file=str(path)), what="t").get_secret_value() == "from-file"
    assert resolve_secret(EnvSecret(env="MCP_TOKEN_X"), what="t").get_secret_value() == "from-env"
    assert resolve_secret(SecretStr("lit"), what="t").get_secret_value() == "lit"
    with pytest.raises(ConfigError):
        resolve_secret(EnvSecret(env="MCP_TOKEN_UNSET_X"), what="t")
    with pytest.raises(ConfigError):
        resolve_secret(FileSecret(file=str(tmp_path / "missing")), what="t")


def test_the_config_file_and_the_env_list_are_merged_and_a_name_in_both_is_an_error(
    tmp_path: Path,
) -> None:
    yaml_file = tmp_path / "mcp.yaml"
    yaml_file.write_text("servers:\n  - name: git\n    transport: stdio\n    command: git-mcp\n")

    names = [s.name for s in load_servers(str(yaml_file), GOOD[1:2])]
    assert names == ["git", "remote"]
    with pytest.raises(ConfigError) as caught:
        load_servers(str(yaml_file), GOOD[:1])
    assert caught.value.details == {"server": "git", "field": "name"}
    with pytest.raises(ConfigError):
        load_servers(str(tmp_path / "nope.yaml"), None)


def test_a_workflow_package_s_mcp_yaml_is_the_default_configuration() -> None:
    [git] = load_servers(None, None, workflow_modules=["examples.repo_brief"])
    assert git.name == "git" and git.args == ["-m", "mcp_server_git"]
    assert load_servers(None, GOOD[1:2], workflow_modules=["examples.repo_brief"])[0].name == (
        "remote"
    )  # an explicit configuration replaces the packages' defaults
