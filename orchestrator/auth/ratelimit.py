"""Rate limits (the ``limits`` library on Redis) and the cap on concurrent streams per key.

Submits and stream connections are counted per principal (API key or JWT subject) and per
tenant in moving windows (``limits``' ``MovingWindowRateLimiter``, one Redis sorted set per
window, so bursts at a window edge cannot double the rate). The concurrent-stream cap is a sorted
set of open streams per principal with heartbeat deadlines (:mod:`orchestrator.auth.streams`),
so a slot that was never given back stops counting within ``STREAM_SLOT_TTL_SECONDS``.

Concurrent hits of one principal are counted together: while a principal's hit is in flight,
the hits arriving for it wait and then go as one hit of their summed cost (``limits`` records a
cost of n as n entries, all or nothing), two round trips for the group instead of two per call.
The outcome is that of the same hits made one after another: when the group does not fit, its
hits are counted again one by one (the key's window first; if only the tenant's refused the
group, the key's window already counted it and only the tenant's is counted one by one), so
each call is refused or let through on its own.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis

from orchestrator.auth.principal import Principal
from orchestrator.auth.streams import STREAM_SLOT_TTL_SECONDS, StreamSlot, StreamSlots
from orchestrator.config import AuthSettings
from orchestrator.errors import RateLimitedError, StateError
from orchestrator.keys import Keys

Kind = Literal["submit", "stream"]


def limits_uri(redis_url: str) -> str:
    """The ``limits`` storage URI of a redis-py URL (``redis://`` → ``async+redis://``)."""
    return f"async+{redis_url}" if redis_url.startswith(("redis://", "rediss://")) else redis_url


def retry_after(reset_time: float) -> int:
    """Whole seconds until ``reset_time`` (epoch seconds), at least 1."""
    return max(1, math.ceil(reset_time - time.time()))


@dataclass(frozen=True, slots=True)
class _Pair:
    per_key: RateLimitItem
    per_tenant: RateLimitItem


_Waiter = tuple[int, "asyncio.Future[None]"]
"""A waiting hit's cost and the future its caller awaits."""


@dataclass(slots=True)
class _Group:
    """The hits of one principal and kind waiting for the one in flight."""

    principal: Principal
    loop: asyncio.AbstractEventLoop
    inline: bool = False  # the first caller is counting its own hit
    waiting: list[_Waiter] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None


class RateLimits:
    """The gateway's rate limits and stream cap.

    Args:
        settings: The auth section (rates in ``limits`` notation, e.g. ``60/minute``).
        redis_url: Where the windows and counters live; ``memory://`` keeps them in-process.
        redis: The process's redis-py client (for the stream counters).
        keys: The key builder (its prefix isolates deployments and tests).
    """

    def __init__(self, settings: AuthSettings, redis_url: str, redis: Redis, keys: Keys) -> None:
        storage = (
            MemoryStorage() if redis_url.startswith("memory://")
            # On the process's pool: no second set of connections, closed with the services.
            else RedisStorage(limits_uri(redis_url), implementation="redispy",
                              key_prefix=keys.rate_limits(), wrap_exceptions=True,
                              connection_pool=redis.connection_pool)  # type: ignore[arg-type]  # typed as scalar options
        )  # fmt: skip
        self._limiter = MovingWindowRateLimiter(storage)
        self._pairs: dict[Kind, _Pair] = {
            "submit": _Pair(parse(settings.submit_rate_per_key),
                            parse(settings.submit_rate_per_tenant)),
            "stream": _Pair(parse(settings.stream_rate_per_key),
                            parse(settings.stream_rate_per_tenant)),
        }
        self._max_streams = settings.max_streams_per_key
        self._keys = keys
        self._groups: dict[tuple[str, str, str | None], _Group] = {}
        self.streams = StreamSlots(redis)

    async def hit(self, kind: Kind, principal: Principal, *, cost: int = 1) -> None:
        """Count ``cost`` (default one) ``kind`` actions of ``principal`` against its key's and
        its tenant's limits (a batch submit of n jobs counts n), with the concurrent hits of the
        same principal (see the module's docstring).

        Raises:
            RateLimitedError: A limit is reached (``retry_after_seconds`` says when to retry).
            StateError: Redis failed.
        """
        loop = asyncio.get_running_loop()
        key = (kind, principal.subject, principal.tenant_id)
        group = self._groups.get(key)
        if group is None or group.loop is not loop:
            # Nothing in flight for this principal: the caller counts its hit itself (no
            # hand-off to a task); the hits arriving meanwhile wait and go as a group after it.
            group = self._groups[key] = _Group(principal, loop=loop, inline=True)
            try:
                refusal = await self._counted(kind, self._pairs[kind], principal, cost)
            finally:
                group.inline = False
                if group.waiting:
                    group.writer = loop.create_task(self._count(kind, key, group),
                                                    name="rate-limit-hits")  # fmt: skip
                elif self._groups.get(key) is group:
                    del self._groups[key]
            if refusal is not None:
                raise refusal
            return
        done: asyncio.Future[None] = loop.create_future()
        done.add_done_callback(lambda f: f.cancelled() or f.exception())  # always retrieved
        group.waiting.append((cost, done))
        if not group.inline and (group.writer is None or group.writer.done()):
            group.writer = loop.create_task(self._count(kind, key, group), name="rate-limit-hits")
        await asyncio.shield(done)  # a caller that went away must not cancel the others'

    async def _count(self, kind: Kind, key: tuple[str, str, str | None], group: _Group) -> None:
        """Count the group's waiting hits until none is left, then forget the group."""
        pair = self._pairs[kind]
        try:
            while group.waiting:
                waiting, group.waiting = group.waiting, []
                await self._settle(kind, pair, group.principal, waiting)
        finally:
            if self._groups.get(key) is group and not group.waiting:
                del self._groups[key]

    async def _settle(
        self, kind: Kind, pair: _Pair, principal: Principal, waiting: list[_Waiter]
    ) -> None:
        """Count ``waiting`` hits as one if they fit, else one by one; answer each future."""
        scopes = _scopes(pair, principal)
        total = sum(cost for cost, _ in waiting)
        try:
            if len(waiting) > 1:
                fitted = 0  # scopes that counted the whole group
                for item, scope, ident in scopes:
                    if not await self._limiter.hit(item, kind, scope, ident, cost=total):
                        break
                    fitted += 1
                if fitted == len(scopes):
                    for _, done in waiting:
                        _answer(done, None)
                    return
                scopes = scopes[fitted:]  # one by one where the group did not fit
            for cost, done in waiting:
                _answer(done, await self._refusal(kind, scopes, cost))
        except StorageError as exc:
            error = StateError("rate limit storage failed",
                               details={"error": type(exc.storage_error).__name__})
            for _, done in waiting:
                _answer(done, error)
        except Exception as exc:  # never leave a caller waiting
            for _, done in waiting:
                _answer(done, exc)

    async def _counted(
        self, kind: Kind, pair: _Pair, principal: Principal, cost: int
    ) -> RateLimitedError | None:
        """Count one hit against the principal's key, then its tenant; the refusal, if any.

        Raises:
            StateError: Redis failed.
        """
        try:
            return await self._refusal(kind, _scopes(pair, principal), cost)
        except StorageError as exc:
            raise StateError("rate limit storage failed",
                             details={"error": type(exc.storage_error).__name__}) from exc

    async def _refusal(
        self, kind: Kind, scopes: list[tuple[RateLimitItem, str, str]], cost: int
    ) -> RateLimitedError | None:
        """Count one hit against ``scopes`` in order; the refusal of the first that is full."""
        for item, scope, ident in scopes:
            if not await self._limiter.hit(item, kind, scope, ident, cost=cost):
                stats = await self._limiter.get_window_stats(item, kind, scope, ident)
                return RateLimitedError(
                    f"{kind} rate limit of the {scope} reached ({item})",
                    retry_after_seconds=retry_after(stats.reset_time),
                    details={"limit": str(item), "scope": scope, "kind": kind},
                )
        return None

    async def open_stream(self, principal: Principal) -> StreamSlot:
        """Take one of the principal's concurrent-stream slots (release it when the stream ends).

        Raises:
            RateLimitedError: All ``max_streams_per_key`` slots are taken.
            StateError: Redis failed.
        """
        slot = await self.streams.take(self._keys.streams(principal.subject), self._max_streams)
        if slot is None:
            raise RateLimitedError(
                f"at most {self._max_streams} concurrent streams per key",
                retry_after_seconds=5,
                details={"limit": self._max_streams, "scope": "key", "kind": "concurrent_streams"},
            )
        return slot

    async def close(self) -> None:
        """Finish pending stream-slot releases and stop their heartbeat."""
        await self.streams.close()


def _scopes(pair: _Pair, principal: Principal) -> list[tuple[RateLimitItem, str, str]]:
    """The windows a hit of ``principal`` counts against, in order: its key's, its tenant's."""
    scopes = [(pair.per_key, "key", principal.subject)]
    if principal.tenant_id is not None:
        scopes.append((pair.per_tenant, "tenant", principal.tenant_id))
    return scopes


def _answer(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


__all__ = ["STREAM_SLOT_TTL_SECONDS", "RateLimits", "StreamSlot", "limits_uri", "retry_after"]
