"""An in-process cache of verified API keys, so that a request need not read PostgreSQL.

Only a key that was just verified against its row (right secret, not revoked) is cached, under
its id, together with the SHA-256 hash of its secret (never the secret itself); a hit needs a
constant-time match of that hash, so another secret for a cached id still goes to the
database. Failures are never cached. An entry lives ``ttl_seconds``: that is how long a key
revoked by another process (``orchestrator keys revoke``) may still be accepted here. The
revoking process's own :meth:`evict` takes effect at once, and a lookup that was in flight
while an entry was evicted does not store its (possibly stale) answer (the generation check).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from orchestrator.auth.principal import Principal

MAX_ENTRIES = 10_000
"""Cap on cached keys; past it expired entries, then the oldest, are dropped."""


@dataclass(slots=True)
class CachedKey:
    """One verified key.

    Attributes:
        secret_hash: SHA-256 hex of the key's secret, as stored in its row.
        principal: What the key authenticates as.
        last_used_at: The row's ``last_used_at`` as far as this process knows (UTC), or
            ``None``; it decides when the next touch is due.
        expires_at: When the entry stops counting (the cache clock, seconds).
    """

    secret_hash: str
    principal: Principal
    last_used_at: datetime | None
    expires_at: float


class VerifiedKeyCache:
    """Verified API keys by id, each for ``ttl_seconds`` at most.

    Args:
        ttl_seconds: Lifetime of an entry; ``0`` turns the cache off.
        clock: Monotonic seconds (``time.monotonic``; tests pass their own).
    """

    def __init__(
        self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, CachedKey] = {}
        self.generation = 0
        """Incremented by every eviction; :meth:`put` drops answers read before one."""

    @property
    def enabled(self) -> bool:
        """Whether entries are kept at all."""
        return self.ttl_seconds > 0

    def get(self, key_id: str, secret_hash: str) -> CachedKey | None:
        """The live entry of ``key_id`` if its stored hash equals ``secret_hash``, else ``None``.

        Args:
            key_id: The key's public id (16 hex digits).
            secret_hash: SHA-256 hex of the secret the caller presented.
        """
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            del self._entries[key_id]
            return None
        if not hmac.compare_digest(entry.secret_hash, secret_hash):
            return None  # not this key's secret: the database decides (and refuses)
        return entry

    def put(
        self,
        key_id: str,
        secret_hash: str,
        principal: Principal,
        last_used_at: datetime | None,
        *,
        generation: int,
    ) -> None:
        """Cache a key that was just verified against its row.

        Args:
            key_id: The key's id.
            secret_hash: SHA-256 hex of its secret (the row's ``secret_hash``).
            principal: What it authenticates as.
            last_used_at: The row's ``last_used_at`` (UTC) or ``None``.
            generation: :attr:`generation` as read before the row was: if an eviction happened
                since, the row may predate a revocation and nothing is stored.
        """
        if not self.enabled or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES and key_id not in self._entries:
            self._prune()
        self._entries[key_id] = CachedKey(
            secret_hash, principal, last_used_at, self._clock() + self.ttl_seconds
        )

    def evict(self, key_id: str) -> None:
        """Forget ``key_id`` (on revocation) and void lookups in flight."""
        self.generation += 1
        self._entries.pop(key_id, None)

    def clear(self) -> None:
        """Forget every key and void lookups in flight."""
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _prune(self) -> None:
        now = self._clock()
        for key_id in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[key_id]
        while len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]  # the oldest insertion


__all__ = ["MAX_ENTRIES", "CachedKey", "VerifiedKeyCache"]
