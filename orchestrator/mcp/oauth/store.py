"""Token sets in the ``mcp_tokens`` table, Fernet-encrypted (DESIGN §14).

Runs on the trace store's SQLAlchemy async engine (PostgreSQL in production, SQLite works too);
the table is in :mod:`orchestrator.trace.schema` and migration ``0004``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.errors import TraceError
from orchestrator.mcp.oauth.crypto import TokenCipher
from orchestrator.mcp.oauth.tokens import TokenSet
from orchestrator.trace.schema import mcp_tokens


class SqlTokenStore:
    """:class:`~orchestrator.mcp.oauth.base.TokenStore` on an SQLAlchemy async engine.

    Args:
        engine: The trace store's engine (``orchestrator.trace.engine.create_engine``).
        cipher: Encrypts every token set before it is written; the row holds ciphertext only.
    """

    def __init__(self, engine: AsyncEngine, cipher: TokenCipher) -> None:
        self.engine = engine
        self.cipher = cipher

    async def get(self, server: str, user_key: str) -> TokenSet | None:
        """Return the stored tokens, or ``None``.

        Raises:
            ConfigError: The row cannot be decrypted with the configured key.
            TraceError: The database failed.
        """
        query = select(mcp_tokens.c.token).where(
            mcp_tokens.c.server == server, mcp_tokens.c.user_key == user_key
        )
        try:
            async with self.engine.connect() as conn:
                blob = (await conn.execute(query)).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise _trace_error("read", exc) from exc
        return None if blob is None else self.cipher.decrypt(bytes(blob))

    async def put(self, server: str, user_key: str, tokens: TokenSet) -> int:
        """Insert or replace the row; return its new version.

        Raises:
            TraceError: The database failed.
        """
        now = datetime.now(UTC)
        expires = (
            datetime.fromtimestamp(tokens.expires_at, UTC)
            if tokens.expires_at is not None
            else None
        )
        values = {
            "server": server,
            "user_key": user_key,
            "token": self.cipher.encrypt(tokens),
            "expires_at": expires,
            "updated_at": now,
            "version": 1,
        }
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(mcp_tokens).values(**values)
        statement = insert.on_conflict_do_update(
            index_elements=[mcp_tokens.c.server, mcp_tokens.c.user_key],
            set_={
                "token": insert.excluded.token,
                "expires_at": insert.excluded.expires_at,
                "updated_at": insert.excluded.updated_at,
                "version": mcp_tokens.c.version + 1,
            },
        ).returning(mcp_tokens.c.version)
        try:
            async with self.engine.begin() as conn:
                return int((await conn.execute(statement)).scalar_one())
        except SQLAlchemyError as exc:
            raise _trace_error("write", exc) from exc

    async def delete(self, server: str, user_key: str) -> bool:
        """Delete the row; return whether there was one.

        Raises:
            TraceError: The database failed.
        """
        statement = delete(mcp_tokens).where(
            mcp_tokens.c.server == server, mcp_tokens.c.user_key == user_key
        )
        try:
            async with self.engine.begin() as conn:
                return bool((await conn.execute(statement)).rowcount)
        except SQLAlchemyError as exc:
            raise _trace_error("delete", exc) from exc


def _trace_error(what: str, exc: SQLAlchemyError) -> TraceError:
    return TraceError(f"could not {what} MCP tokens", details={"error": type(exc).__name__})


__all__ = ["SqlTokenStore"]
