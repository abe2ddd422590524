"""The in-process cache of verified API keys, on real PostgreSQL, with a clock the test moves.

"Another process" is another ``ApiKeyStore`` on its own engine, as ``orchestrator keys revoke``
has: it cannot evict this store's cache, so the cache's TTL bounds how long it is ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from sqlalchemy import update

from orchestrator.auth import ApiKeyStore, Principal, Role
from orchestrator.auth.keycache import VerifiedKeyCache
from orchestrator.errors import AuthenticationError
from orchestrator.trace.schema import api_keys
from orchestrator.trace.store import TraceStore

TTL_SECONDS = 5.0


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Gateway:
    """A caching store (a gateway's) and a store of another process on its own engine."""

    store: ApiKeyStore
    other: ApiKeyStore
    clock: Clock
    tenant: str


@pytest_asyncio.fixture(loop_scope="session")
async def gw(pg_url: str) -> AsyncIterator[Gateway]:
    ours, theirs = TraceStore.from_url(pg_url, pool_size=2), TraceStore.from_url(pg_url, pool_size=1)
    clock = Clock()
    try:
        yield Gateway(
            store=ApiKeyStore(ours.engine, cache=VerifiedKeyCache(TTL_SECONDS, clock=clock)),
            other=ApiKeyStore(theirs.engine), clock=clock, tenant=f"kc-{uuid.uuid4().hex[:8]}",
        )  # fmt: skip
    finally:
        await ours.close()
        await theirs.close()


async def reason_of_refusal(store: ApiKeyStore, key: str) -> str:
    with pytest.raises(AuthenticationError) as refused:
        await store.authenticate(key)
    assert refused.value.code == "unauthenticated"
    return str(refused.value.details["reason"])


async def test_a_key_revoked_through_the_caching_store_is_refused_at_once(gw: Gateway) -> None:
    record, key = await gw.store.create(gw.tenant, Role.SUBMITTER)
    assert (await gw.store.authenticate(key)).subject == f"key:{record.id}"
    assert len(gw.store.cache) == 1

    assert await gw.store.revoke(record.id)
    assert await reason_of_refusal(gw.store, key) == "key_revoked"
    assert len(gw.store.cache) == 0


async def test_a_key_revoked_by_another_process_is_refused_once_the_ttl_has_passed(
    gw: Gateway,
) -> None:
    record, key = await gw.store.create(gw.tenant, Role.VIEWER)
    principal = await gw.store.authenticate(key)
    assert await gw.other.revoke(record.id)

    # The documented bound: up to the TTL, the cached verification still stands.
    gw.clock.now += TTL_SECONDS - 0.01
    assert await gw.store.authenticate(key) == principal
    gw.clock.now += 0.01
    assert await reason_of_refusal(gw.store, key) == "key_revoked"
    assert await reason_of_refusal(gw.store, key) == "key_revoked"  # the refusal is not cached


async def test_a_wrong_secret_for_a_cached_key_id_is_refused_and_leaves_the_key_working(
    gw: Gateway,
) -> None:
    record, key = await gw.store.create(gw.tenant, Role.OPERATOR)
    principal = await gw.store.authenticate(key)
    forged = f"orch_{record.id}_{'A' * 43}"
    assert await reason_of_refusal(gw.store, forged) == "key_invalid"
    assert await reason_of_refusal(gw.store, forged) == "key_invalid"
    assert await gw.store.authenticate(key) == principal


async def test_failed_lookups_are_not_cached(gw: Gateway) -> None:
    unknown = f"orch_{uuid.uuid4().hex[:16]}_{'B' * 43}"
    assert await reason_of_refusal(gw.store, unknown) == "key_invalid"
    record, key = await gw.store.create(gw.tenant, Role.VIEWER)
    assert await gw.other.revoke(record.id)
    assert await reason_of_refusal(gw.store, key) == "key_revoked"
    assert len(gw.store.cache) == 0


async def test_cached_hits_still_record_last_use_once_per_touch_interval(
    gw: Gateway, pg_url: str
) -> None:
    trace = TraceStore.from_url(pg_url, pool_size=1)
    store = ApiKeyStore(trace.engine, touch_interval_seconds=0,
                        cache=VerifiedKeyCache(TTL_SECONDS, clock=gw.clock))  # fmt: skip
    try:
        record, key = await store.create(gw.tenant, Role.VIEWER)
        await store.authenticate(key)
        first = (await store.get(record.id)).last_used_at  # type: ignore[union-attr]
        await store.authenticate(key)  # a cache hit, and a touch is due (interval 0)
        assert len(store.cache) == 1
        assert first is not None
        assert (await store.get(record.id)).last_used_at > first  # type: ignore[union-attr,operator]

        # Within the default interval (60 s) a hit writes nothing: a cleared value stays clear.
        await gw.store.authenticate(key)  # a miss: the row was used just now, no touch due
        async with trace.engine.begin() as conn:
            await conn.execute(update(api_keys).where(api_keys.c.id == record.id)
                               .values(last_used_at=None))  # fmt: skip
        await gw.store.authenticate(key)  # a hit
        assert (await gw.store.get(record.id)).last_used_at is None  # type: ignore[union-attr]
    finally:
        await trace.close()


async def test_without_a_cache_another_process_revocation_acts_at_once(gw: Gateway) -> None:
    record, key = await gw.other.create(gw.tenant, Role.VIEWER)  # gw.other has no cache
    assert (await gw.other.authenticate(key)).subject == f"key:{record.id}"
    assert await gw.store.revoke(record.id)
    assert await reason_of_refusal(gw.other, key) == "key_revoked"


# -- the cache alone --------------------------------------------------------------------------

PRINCIPAL = Principal(subject="key:0123456789abcdef", tenant_id="t", role=Role.VIEWER,
                      method="api_key")


def test_an_answer_read_before_an_eviction_is_not_stored() -> None:
    cache = VerifiedKeyCache(TTL_SECONDS)
    generation = cache.generation  # a lookup starts reading the row ...
    cache.evict("0123456789abcdef")  # ... the key is revoked meanwhile ...
    cache.put("0123456789abcdef", "h" * 64, PRINCIPAL, None, generation=generation)
    assert cache.get("0123456789abcdef", "h" * 64) is None  # ... and its answer is dropped


def test_a_zero_ttl_caches_nothing_and_an_entry_needs_the_same_secret_hash() -> None:
    off = VerifiedKeyCache(0)
    off.put("0123456789abcdef", "h" * 64, PRINCIPAL, None, generation=off.generation)
    assert len(off) == 0
    on = VerifiedKeyCache(TTL_SECONDS)
    on.put("0123456789abcdef", "h" * 64, PRINCIPAL, None, generation=on.generation)
    assert on.get("0123456789abcdef", "g" * 64) is None
    assert on.get("0123456789abcdef", "h" * 64) is not None
