"""One contract for every TagStore: in memory, SQLite and PostgreSQL (migrated by Alembic).

Each test uses fresh tenants, so the databases are shared across tests without cleaning.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from orchestrator.errors import TagNotFoundError
from orchestrator.tags import MemoryTagStore, TagKind, TagStore
from orchestrator.tags.store import SqlTagStore
from orchestrator.trace.migrate import upgrade
from orchestrator.trace.records import AuditRecord
from orchestrator.trace.schema import audit_log
from orchestrator.trace.store import TraceStore
from tests.orchestrator.tags.builders import make_tag


@pytest_asyncio.fixture(loop_scope="session", params=["memory", "sqlite", "postgresql"])
async def store(
    request: pytest.FixtureRequest, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TagStore]:
    if request.param == "memory":
        yield MemoryTagStore()
        return
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tags') / 'tags.db'}"
        await asyncio.to_thread(upgrade, url)
    else:
        url = pg_url
    trace = TraceStore.from_url(url, pool_size=2)
    try:
        yield SqlTagStore(trace.engine)
    finally:
        await trace.close()


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def audit(action: str, tenant: str, *, at: datetime | None = None) -> AuditRecord:
    return AuditRecord(at=at or datetime.now(UTC), actor="key:admin", action=action,
                       tenant_id=tenant, details={"tag": "readers"})  # fmt: skip


async def audit_rows(store: TagStore, tenant: str) -> list[AuditRecord]:
    if isinstance(store, MemoryTagStore):
        return [a for a in store.audits if a.tenant_id == tenant]
    assert isinstance(store, SqlTagStore)
    async with store._engine.connect() as conn:
        rows = (await conn.execute(select(audit_log).where(audit_log.c.tenant_id == tenant)
                                   .order_by(audit_log.c.id))).all()  # fmt: skip
    return [AuditRecord(at=r.at, actor=r.actor, action=r.action, tenant_id=r.tenant_id,
                        details=r.details) for r in rows]  # fmt: skip


async def test_a_put_tag_reads_back_at_version_1(store: TagStore, tenant: str) -> None:
    change = await store.put(tenant, make_tag("readers", allow=["git/*"]), author="key:a")

    got = await store.get(tenant, "readers")

    assert change.changed and change.created and change.stored.version == 1
    assert change.tenants == {tenant}
    assert got is not None and got.tag == make_tag("readers", allow=["git/*"])
    assert (got.version, got.updated_by, got.tenant_id) == (1, "key:a", tenant)
    assert got.updated_at.tzinfo is not None


async def test_each_change_is_a_new_version_with_author_and_time(
    store: TagStore, tenant: str
) -> None:
    await store.put(tenant, make_tag("readers", allow=["git/*"]), author="key:a")
    await store.put(tenant, make_tag("readers", allow=["time/*"]), author="key:b")

    versions = await store.versions(tenant, "readers")

    assert [(v.version, v.action, v.author) for v in versions] == [
        (1, "put", "key:a"),
        (2, "put", "key:b"),
    ]
    assert versions[1].body["payload"]["config"]["allowed_tools"] == ["time/*"]
    assert versions[0].at <= versions[1].at


async def test_putting_the_same_tag_again_writes_nothing(store: TagStore, tenant: str) -> None:
    await store.put(tenant, make_tag("readers", allow=["git/*"]), author="key:a",
                    audit=audit("tag.put", tenant))  # fmt: skip

    again = await store.put(tenant, make_tag("readers", allow=["git/*"]), author="key:b",
                            audit=audit("tag.put", tenant))  # fmt: skip

    assert again.changed is False and again.tenants == frozenset()
    assert again.stored.version == 1
    assert len(await store.versions(tenant, "readers")) == 1
    assert [a.details for a in await audit_rows(store, tenant)] == [
        {"tag": "readers", "version": 1}
    ]


async def test_a_delete_is_soft_and_a_later_put_revives_the_tag(
    store: TagStore, tenant: str
) -> None:
    await store.put(tenant, make_tag("readers"), author="key:a")

    deleted = await store.delete(tenant, "readers", author="key:b")

    assert deleted.changed and deleted.tenants == {tenant}
    assert await store.get(tenant, "readers") is None
    assert await store.list(tenant) == []
    assert [(v.version, v.action) for v in await store.versions(tenant, "readers")] == [
        (1, "put"),
        (2, "delete"),
    ]
    revived = await store.put(tenant, make_tag("readers"), author="key:c")
    assert revived.created and revived.stored.version == 3
    assert (await store.get(tenant, "readers")) is not None


async def test_deleting_a_missing_or_deleted_tag_is_tag_not_found(
    store: TagStore, tenant: str
) -> None:
    with pytest.raises(TagNotFoundError):
        await store.delete(tenant, "nothing", author="key:a")
    await store.put(tenant, make_tag("once"), author="key:a")
    await store.delete(tenant, "once", author="key:a")
    with pytest.raises(TagNotFoundError):
        await store.delete(tenant, "once", author="key:a")
    with pytest.raises(TagNotFoundError):
        await store.versions(tenant, "nothing")


async def test_tags_are_per_tenant(store: TagStore, tenant: str) -> None:
    other = f"{tenant}-other"
    await store.put(tenant, make_tag("readers", allow=["git/*"]), author="key:a")

    assert await store.get(other, "readers") is None
    assert await store.list(other) == []
    with pytest.raises(TagNotFoundError):
        await store.versions(other, "readers")


async def test_list_filters_by_kind_and_sorts_by_name(store: TagStore, tenant: str) -> None:
    for name, kind in (("zeta", "role"), ("alpha", "company"), ("mid", "role")):
        await store.put(tenant, make_tag(name, kind), author="key:a")

    assert [s.name for s in await store.list(tenant)] == ["alpha", "mid", "zeta"]
    assert [s.name for s in await store.list(tenant, kind=TagKind.ROLE)] == ["mid", "zeta"]


async def test_applicable_tags_follow_org_scope(store: TagStore, tenant: str) -> None:
    parent, child = f"{tenant}-parent", f"{tenant}-child"
    await store.put(tenant, make_tag("own"), author="key:a")
    await store.put(tenant, make_tag("elsewhere", org=[child]), author="key:a")
    await store.put(parent, make_tag("from-parent", org=[tenant, child]), author="key:a")

    assert [s.name for s in await store.applicable(tenant)] == ["own", "from-parent"]
    assert sorted(s.name for s in await store.applicable(child)) == ["elsewhere", "from-parent"]


async def test_a_scope_change_reports_old_and_new_tenants(store: TagStore, tenant: str) -> None:
    await store.put(tenant, make_tag("moving", org=["a", "b"]), author="key:a")

    change = await store.put(tenant, make_tag("moving", org=["b", "c"]), author="key:a")

    assert change.tenants == {"a", "b", "c"}


async def test_a_change_whose_audit_row_fails_writes_nothing(store: TagStore, tenant: str) -> None:
    naive = datetime(2026, 1, 1)  # an audit row with a naive time cannot be written
    await store.put(tenant, make_tag("kept", allow=["git/*"]), author="key:a")

    with pytest.raises(ValueError):
        await store.put(tenant, make_tag("fresh"), author="key:a",
                        audit=audit("tag.put", tenant, at=naive))  # fmt: skip
    with pytest.raises(ValueError):
        await store.put(tenant, make_tag("kept", allow=["time/*"]), author="key:a",
                        audit=audit("tag.put", tenant, at=naive))  # fmt: skip
    with pytest.raises(ValueError):
        await store.delete(tenant, "kept", author="key:a",
                           audit=audit("tag.delete", tenant, at=naive))  # fmt: skip

    assert await store.get(tenant, "fresh") is None
    with pytest.raises(TagNotFoundError):
        await store.versions(tenant, "fresh")
    kept = await store.get(tenant, "kept")
    assert kept is not None and kept.version == 1
    assert kept.tag.payload.config.allowed_tools == ["git/*"]
    assert len(await store.versions(tenant, "kept")) == 1
    assert await audit_rows(store, tenant) == []


async def test_a_change_and_its_audit_row_commit_together(store: TagStore, tenant: str) -> None:
    await store.put(tenant, make_tag("readers"), author="key:a", audit=audit("tag.put", tenant))
    await store.delete(tenant, "readers", author="key:a", audit=audit("tag.delete", tenant))

    rows = await audit_rows(store, tenant)

    assert [(r.action, r.details) for r in rows] == [
        ("tag.put", {"tag": "readers", "version": 1}),
        ("tag.delete", {"tag": "readers", "version": 2}),
    ]


async def test_concurrent_first_puts_of_one_name_both_succeed(store: TagStore, tenant: str) -> None:
    first, second = await asyncio.gather(
        store.put(tenant, make_tag("race", allow=["git/*"]), author="key:a"),
        store.put(tenant, make_tag("race", allow=["time/*"]), author="key:b"),
    )

    versions = await store.versions(tenant, "race")
    assert sorted(c.stored.version for c in (first, second)) == [1, 2]
    assert [v.version for v in versions] == [1, 2]
    if isinstance(store, SqlTagStore):
        async with store._engine.connect() as conn:
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(audit_log)
                    .where(audit_log.c.tenant_id == tenant)
                )
            ).scalar_one()
        assert count == 0
