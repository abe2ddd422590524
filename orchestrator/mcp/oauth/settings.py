"""Settings of the MCP token manager (merged into the ``mcp`` section: ``ORCH_MCP__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class McpTokenSettings(BaseModel):
    """How OAuth tokens of MCP servers are kept at rest.

    Without ``token_encryption_key`` the token manager refuses to store tokens (a one-line
    ``config_invalid`` error naming ``ORCH_MCP__TOKEN_ENCRYPTION_KEY``); servers with ``auth``
    ``none`` or ``bearer`` do not need it.
    """

    token_encryption_key: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet key(s) encrypting MCP OAuth tokens in PostgreSQL and Redis: comma-separated "
            "url-safe base64 keys of 32 bytes (`python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'`). The first key encrypts; all of them "
            "decrypt, so a key is rotated by putting the new one first."
        ),
    )


__all__ = ["McpTokenSettings"]
