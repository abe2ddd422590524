"""MCP server configuration (DESIGN §14, §20): which servers exist, how to reach them, how to auth.

Servers come from ``ORCH_MCP__CONFIG`` (a YAML or JSON file holding ``servers: [...]``) and from
``ORCH_MCP__SERVERS`` (a JSON list of the same objects); a name given in both is an error.
Each server is::

    {"name", "transport": "stdio" | "http", "command", "args", "env", "url",
     "auth": {"type": "none" | "bearer" | "oauth2", ...}, "timeout_seconds", "max_concurrency"}

A secret (a bearer token, an OAuth client secret) is a *secret reference*: a plain string, or
``{"env": "NAME"}`` (read from the process environment at use), or ``{"file": "/path"}`` (read at
use: a mounted Kubernetes Secret). Resolved values are held as :class:`pydantic.SecretStr` and
are never logged or printed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from orchestrator.errors import ConfigError

PYTHON_COMMAND = "python"
"""A stdio ``command`` of exactly ``python`` runs this process's own interpreter
(``sys.executable``): a server installed with the project (``mcp-server-git``) runs without PATH
set-up, in a virtualenv or an image alike."""

SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
"""A server's name: it prefixes its tools (``server/tool``) and appears in URLs and Redis keys."""


class EnvSecret(BaseModel):
    """A secret read from an environment variable of the process, at use."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    env: str = Field(min_length=1, description="The variable's name.")


class FileSecret(BaseModel):
    """A secret read from a file at use (surrounding whitespace stripped), e.g. a mounted Secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str = Field(min_length=1, description="The file's absolute path.")


SecretRef = SecretStr | EnvSecret | FileSecret
"""A secret reference: a literal (held as ``SecretStr``), ``{"env": ...}`` or ``{"file": ...}``."""


def resolve_secret(ref: SecretRef, *, what: str) -> SecretStr:
    """The secret's value, read now.

    Args:
        ref: The reference.
        what: What it is, for the error (``"server 'x': auth.token"``); never the value.

    Raises:
        ConfigError: The variable is unset or empty, or the file cannot be read.
    """
    if isinstance(ref, SecretStr):
        return ref
    if isinstance(ref, EnvSecret):
        value = os.environ.get(ref.env)
        if not value:
            raise ConfigError(
                f"{what}: environment variable {ref.env} is not set",
                details={"setting": what, "env": ref.env},
            )
        return SecretStr(value)
    try:
        return SecretStr(Path(ref.file).read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ConfigError(
            f"{what}: cannot read {ref.file} ({exc.strerror})",
            details={"setting": what, "file": ref.file},
        ) from None


class NoAuth(BaseModel):
    """No credentials (stdio servers, servers on a private network)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["none"] = "none"


class BearerAuth(BaseModel):
    """A static bearer token sent as ``Authorization: Bearer <token>`` (RFC 6750)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["bearer"] = "bearer"
    token: SecretRef = Field(description="The token, as a secret reference.")


class OAuth2Auth(BaseModel):
    """OAuth 2 access tokens from a token manager (``orchestrator/mcp/oauth``), refreshed ahead of
    expiry; one refresh and retry on a 401 (RFC 6749 §4.4 client credentials, §6 refresh).

    Attributes:
        token_url: The authorization server's token endpoint.
        client_id: This deployment's OAuth client id.
        client_secret: Its secret, as a secret reference (``None``: a public client).
        scopes: Scopes requested.
        grant: ``client_credentials`` (a token for the deployment) or ``refresh_token`` (a
            refresh token stored by ``orchestrator mcp login``).
        per_user: Tokens per end user (the job's submitter, the HTTP caller) instead of one per
            server.
        resource: The RFC 8707 resource indicator (the MCP server's canonical URI), if any.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["oauth2"] = "oauth2"
    token_url: str = Field(min_length=1, pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    client_secret: SecretRef | None = None
    scopes: list[str] = Field(default_factory=list)
    grant: Literal["client_credentials", "refresh_token"] = "client_credentials"
    per_user: bool = False
    resource: str | None = None


AuthConfig = Annotated[NoAuth | BearerAuth | OAuth2Auth, Field(discriminator="type")]


class ServerConfig(BaseModel):
    """One MCP server.

    Attributes:
        name: Unique; tools are named ``name/tool``.
        transport: ``stdio`` (a child process: ``command``, ``args``, ``env``) or ``http``
            (streamable HTTP at ``url``).
        command, args, env: The stdio server's program, arguments and extra environment.
        url: The streamable-HTTP endpoint (``http``), e.g. ``https://mcp.example.com/mcp``.
        auth: ``none``, ``bearer`` or ``oauth2`` (HTTP servers only).
        timeout_seconds: Upper bound on one tool call (``tool_timeout`` beyond) and on
            connecting.
        max_concurrency: Calls in flight to this server at once, per process.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=SERVER_NAME.pattern)
    transport: Literal["stdio", "http"]
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = Field(default=None, pattern=r"^https?://")
    auth: AuthConfig = Field(default_factory=NoAuth)
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_concurrency: int = Field(default=8, ge=1, le=1024)

    @model_validator(mode="after")
    def _transport_fields(self) -> ServerConfig:
        if self.command == PYTHON_COMMAND:
            object.__setattr__(self, "command", sys.executable)
        if self.transport == "stdio":
            if not self.command:
                raise ValueError("command is required for transport stdio")
            if self.url is not None:
                raise ValueError("url is for transport http, not stdio")
            if not isinstance(self.auth, NoAuth):
                raise ValueError("auth applies to transport http only")
        else:
            if not self.url:
                raise ValueError("url is required for transport http")
            if self.command is not None:
                raise ValueError("command is for transport stdio, not http")
        return self


def _parse_one(raw: Any, index: int, source: str) -> ServerConfig:
    name = raw.get("name") if isinstance(raw, dict) else None
    label = f"MCP server {name!r}" if isinstance(name, str) else f"MCP server #{index}"
    try:
        return ServerConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"] if not isinstance(p, int)) or "(server)"
        # `input` may be a secret: the message names the field, never the value
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            f"{label} in {source}: {field}: {message}",
            details={"server": name, "field": field, "source": source},
        ) from None


def parse_servers(raw: Any, *, source: str) -> list[ServerConfig]:
    """Validate a list of server objects.

    Args:
        raw: A JSON/YAML value: a list of server objects.
        source: Where it came from, for errors (``ORCH_MCP__SERVERS`` or a file path).

    Raises:
        ConfigError: Not a list, a server fails validation (naming the server and field), or a
            name repeats.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(
            f"{source}: servers must be a list of objects", details={"source": source}
        )
    servers = [_parse_one(item, i, source) for i, item in enumerate(raw)]
    seen: set[str] = set()
    for server in servers:
        if server.name in seen:
            raise ConfigError(
                f"MCP server {server.name!r} is configured twice ({source})",
                details={"server": server.name, "field": "name"},
            )
        seen.add(server.name)
    return servers


def read_config_file(path: str) -> list[ServerConfig]:
    """The servers of a YAML or JSON file holding ``servers: [...]``.

    Raises:
        ConfigError: The file cannot be read or parsed, or a server is invalid.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"ORCH_MCP__CONFIG: cannot read {path} ({exc.strerror})",
            details={"setting": "ORCH_MCP__CONFIG", "file": path},
        ) from None
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except ValueError as exc:  # json.JSONDecodeError and yaml.YAMLError's parse errors
        raise ConfigError(
            f"ORCH_MCP__CONFIG: {path} is not valid YAML/JSON ({exc})",
            details={"setting": "ORCH_MCP__CONFIG", "file": path},
        ) from None
    except Exception as exc:  # yaml.YAMLError does not derive from ValueError
        raise ConfigError(
            f"ORCH_MCP__CONFIG: {path} is not valid YAML/JSON ({type(exc).__name__})",
            details={"setting": "ORCH_MCP__CONFIG", "file": path},
        ) from None
    if data is None:
        return []
    if not isinstance(data, dict) or "servers" not in data:
        raise ConfigError(
            f"ORCH_MCP__CONFIG: {path} must hold a mapping with `servers:`",
            details={"setting": "ORCH_MCP__CONFIG", "file": path},
        )
    return parse_servers(data["servers"], source=path)


WORKFLOW_CONFIG_FILE = "mcp.yaml"
"""A workflow package may ship its servers in this file beside its ``__init__.py``."""


def workflow_config_files(modules: list[str]) -> list[str]:
    """The ``mcp.yaml`` files shipped by the packages of ``modules`` (``ORCH_WORKFLOWS``)."""
    import importlib.util

    files: list[str] = []
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue  # the workflow registry reports unimportable modules
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / WORKFLOW_CONFIG_FILE
            if candidate.is_file() and str(candidate) not in files:
                files.append(str(candidate))
    return files


def load_servers(
    config_path: str | None,
    servers: list[Any] | None,
    *,
    workflow_modules: list[str] | None = None,
) -> list[ServerConfig]:
    """Every configured server: the file's, then ``ORCH_MCP__SERVERS``'s.

    Args:
        config_path: ``mcp.config`` (``ORCH_MCP__CONFIG``), or ``None``.
        servers: ``mcp.servers`` (``ORCH_MCP__SERVERS``, already JSON-decoded), or ``None``.
        workflow_modules: ``ORCH_WORKFLOWS``: when neither of the above is set, the
            ``mcp.yaml`` files shipped in these packages are read (``examples/repo_brief``'s
            makes ``make run`` work with no configuration).

    Raises:
        ConfigError: See :func:`parse_servers`; a name in two sources is an error too.
    """
    if config_path:
        found = read_config_file(config_path)
    elif not servers and workflow_modules:
        found = []
        for path in workflow_config_files(workflow_modules):
            known = {s.name for s in found}
            for server in read_config_file(path):
                if server.name in known:
                    raise ConfigError(
                        f"MCP server {server.name!r} is configured twice ({path})",
                        details={"server": server.name, "field": "name"},
                    )
                found.append(server)
    else:
        found = []
    names = {s.name for s in found}
    for server in parse_servers(servers or [], source="ORCH_MCP__SERVERS"):
        if server.name in names:
            raise ConfigError(
                f"MCP server {server.name!r} is in both ORCH_MCP__CONFIG and ORCH_MCP__SERVERS",
                details={"server": server.name, "field": "name"},
            )
        found.append(server)
    return found


def masked_servers(servers: list[Any]) -> list[Any]:
    """``servers`` with every literal secret replaced by ``***`` (for ``orchestrator config``)."""
    out: list[Any] = []
    for server in servers:
        if isinstance(server, dict) and isinstance(server.get("auth"), dict):
            auth = dict(server["auth"])
            for key in ("token", "client_secret"):
                if isinstance(auth.get(key), str):
                    auth[key] = "***"
            server = {**server, "auth": auth}
        out.append(server)
    return out


__all__ = [
    "AuthConfig",
    "BearerAuth",
    "EnvSecret",
    "FileSecret",
    "NoAuth",
    "OAuth2Auth",
    "SecretRef",
    "ServerConfig",
    "load_servers",
    "masked_servers",
    "parse_servers",
    "read_config_file",
    "resolve_secret",
    "workflow_config_files",
]
