"""Encryption of tokens at rest: Fernet (AES-128-CBC + HMAC-SHA256) with key rotation.

``cryptography``'s :class:`~cryptography.fernet.MultiFernet` encrypts with the first key and
decrypts with any, so a key is rotated by prepending the new one to
``ORCH_MCP__TOKEN_ENCRYPTION_KEY`` (and, once every stored token was rewritten, dropping the old).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from orchestrator.errors import ConfigError
from orchestrator.mcp.oauth.tokens import TokenSet

KEY_SETTING = "ORCH_MCP__TOKEN_ENCRYPTION_KEY"


class TokenCipher:
    """Encrypts and decrypts :class:`TokenSet` blobs.

    Args:
        keys: Fernet keys (url-safe base64 of 32 bytes), newest first.

    Raises:
        ConfigError: No key, or a key that is not a Fernet key.
    """

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError(
                f"{KEY_SETTING} is not set: the MCP token manager refuses to store OAuth tokens "
                "unencrypted; set it to a Fernet key"
            )
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{KEY_SETTING} holds a value that is not a Fernet key (32 url-safe base64 bytes)"
            ) from exc

    @classmethod
    def from_setting(cls, secret: SecretStr | str | None) -> TokenCipher:
        """Build from the comma-separated setting (``None`` or empty raises :class:`ConfigError`)."""
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else (secret or "")
        return cls([part.strip() for part in raw.split(",") if part.strip()])

    def encrypt(self, tokens: TokenSet) -> bytes:
        """Return the Fernet token (bytes) of ``tokens``."""
        return self._fernet.encrypt(tokens.to_json())

    def decrypt(self, blob: bytes) -> TokenSet:
        """Return the tokens of a blob written by :meth:`encrypt`.

        Raises:
            ConfigError: No configured key decrypts the blob (a wrong or rotated-out key).
        """
        try:
            return TokenSet.from_json(self._fernet.decrypt(blob))
        except InvalidToken as exc:
            raise ConfigError(
                f"a stored MCP token cannot be decrypted with {KEY_SETTING}: the key is wrong or "
                "was rotated out; restore the key, or log in again (orchestrator mcp login SERVER)"
            ) from exc


__all__ = ["KEY_SETTING", "TokenCipher"]
