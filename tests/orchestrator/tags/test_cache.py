"""The policy cache on the real Redis: memo, Redis entries, and per-tenant generations.

Two :class:`TagCache` objects stand for two processes (each its own memo and clock); the
clocks are driven by the test, so the check interval is crossed without sleeping. The real
two-process version is tests/e2e/test_tags_live.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from orchestrator.jobs import Actor
from orchestrator.keys import Keys
from orchestrator.tags import (
    MemoryTagStore,
    PolicyPrincipal,
    StoredTag,
    TagCache,
    TagResolver,
    TagService,
)
from tests.orchestrator.tags.builders import make_tag


@dataclass
class CountingStore(MemoryTagStore):
    """A memory store that counts the cold reads."""

    reads: list[str] = field(default_factory=list)

    async def applicable(self, tenant_id: str) -> list[StoredTag]:
        self.reads.append(tenant_id)
        return await super().applicable(tenant_id)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Process:
    cache: TagCache
    resolver: TagResolver
    clock: Clock


@pytest_asyncio.fixture(loop_scope="session")
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def keys() -> Keys:
    return Keys(f"tc{uuid.uuid4().hex[:8]}")


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


def process(redis: Redis, keys: Keys, store: CountingStore) -> Process:
    clock = Clock()
    cache = TagCache(redis, keys, check_interval_seconds=0.25, clock=clock)
    return Process(cache, TagResolver(store, cache, default_policy="deny"), clock)


ALICE = PolicyPrincipal("acme", "user:alice", "submitter")
ADMIN = Actor(id="key:root", tenant_id="acme", role="admin")


async def test_a_second_resolution_reads_neither_store_nor_redis(
    redis_client: Redis, keys: Keys, store: CountingStore
) -> None:
    p = process(redis_client, keys, store)
    await store.put("acme", make_tag("t", roles=["submitter"], allow=["time/*"]), author="a")

    first = await p.resolver.resolve(ALICE, "x")
    second = await p.resolver.resolve(ALICE, "x")

    assert second is first
    assert store.reads == ["acme"]
    assert await redis_client.exists(keys.tag_cache("acme", "user:alice", "x")) == 1
    ttl = await redis_client.ttl(keys.tag_cache("acme", "user:alice", "x"))
    assert 0 < ttl <= 1800


async def test_another_process_gets_the_policy_from_redis(
    redis_client: Redis, keys: Keys, store: CountingStore
) -> None:
    await store.put("acme", make_tag("t", roles=["submitter"], allow=["time/*"]), author="a")
    first = await process(redis_client, keys, store).resolver.resolve(ALICE, None)

    again = await process(redis_client, keys, store).resolver.resolve(ALICE, None)

    assert again == first
    assert store.reads == ["acme"]


async def test_one_cold_read_per_tenant_generation_serves_every_user(
    redis_client: Redis, keys: Keys, store: CountingStore
) -> None:
    p = process(redis_client, keys, store)

    for user in ("user:a", "user:b", "user:c"):
        await p.resolver.resolve(PolicyPrincipal("acme", user, "viewer"), None)

    assert store.reads == ["acme"]


async def test_a_change_in_one_process_reaches_another_within_the_check_interval(
    redis_client: Redis, keys: Keys, store: CountingStore
) -> None:
    gateway, worker = process(redis_client, keys, store), process(redis_client, keys, store)
    admin = TagService(store, gateway.cache)
    await admin.put(
        ADMIN,
        "t",
        {
            "kind": "role",
            "payload": {"config": {"assigned_roles": ["submitter"], "allowed_tools": ["time/*"]}},
        },
    )
    assert (await worker.resolver.resolve(ALICE, None)).decide("time/now").allowed

    await admin.put(
        ADMIN,
        "t",
        {
            "kind": "role",
            "payload": {"config": {"assigned_roles": ["submitter"], "denied_tools": ["time/*"]}},
        },
    )

    # The writing process sees it at once; the other within its check interval.
    assert not (await gateway.resolver.resolve(ALICE, None)).decide("time/now").allowed
    assert (await worker.resolver.resolve(ALICE, None)).decide("time/now").allowed
    worker.clock.now += 0.25
    assert not (await worker.resolver.resolve(ALICE, None)).decide("time/now").allowed


async def test_a_change_to_an_org_scoped_tag_invalidates_every_tenant_in_scope(
    redis_client: Redis, keys: Keys, store: CountingStore
) -> None:
    p = process(redis_client, keys, store)
    parent = Actor(id="key:org", tenant_id="parent", role="admin")
    admin = TagService(store, p.cache, org_admin_tenants=["parent"])
    beta = PolicyPrincipal("beta", "user:eve", "submitter")
    assert not (await p.resolver.resolve(beta, None)).decide("time/now").allowed

    await admin.put(
        parent,
        "org",
        {
            "kind": "company",
            "payload": {"config": {"org_scope": ["acme", "beta"], "allowed_tools": ["time/*"]}},
        },
    )

    assert (await p.resolver.resolve(beta, None)).decide("time/now").allowed
    assert await redis_client.get(keys.tag_generation("beta")) == b"1"


async def test_a_redis_entry_for_another_role_is_a_miss(
    redis_client: Redis, keys: Keys, store: CountingStore
) -> None:
    await store.put("acme", make_tag("ops", roles=["operator"], allow=["git/*"]), author="a")
    as_submitter = await process(redis_client, keys, store).resolver.resolve(ALICE, None)

    as_operator = await process(redis_client, keys, store).resolver.resolve(
        PolicyPrincipal("acme", "user:alice", "operator"), None
    )

    assert not as_submitter.decide("git/x").allowed
    assert as_operator.decide("git/x").allowed
