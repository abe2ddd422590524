"""Tag policy cost (issue 14): ``python -m benchmarks.policy [--tags 1000] [--decisions 20000]``.

With ``--tags`` tags in one tenant (PostgreSQL, written through the real store), measures:

- **decision from cache**: ``TagPolicy.decide(actor, tool, arguments)`` per tool call when the
  principal's policy is in the process's memo (the steady state of a gateway or worker; the
  tenant's generation is still read from Redis once per check interval, inside the figures);
  with arguments (scopes validated) and without (tool-list filtering); and ``visible`` over a
  list of tools.
- **warm from Redis**: a process that has not resolved the principal yet, whose Redis entry exists.
- **cold resolution**: nothing cached (a new generation): read the tenant's tags from PostgreSQL,
  resolve, write the Redis entry; also the pure resolution alone.

Target (issue 14): a decision from the cache at most 0.2 ms p50. Uses Redis DB 12 under its own
key prefix and a database ``orch_bench_tags`` (recreated), like :mod:`benchmarks.run`; the
report goes to ``benchmarks/results/<stamp>-policy.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis

from orchestrator.jobs.actor import Actor
from orchestrator.keys import Keys
from orchestrator.tags import TagCache, TagPolicy, TagResolver, resolve_policy
from orchestrator.tags.model import Tag
from orchestrator.tags.policy import principal_of
from orchestrator.tags.store import SqlTagStore
from orchestrator.trace.migrate import upgrade
from orchestrator.trace.store import TraceStore

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DATABASE = "orch_bench_tags"
TENANT = "bench"
TARGET_P50_MS = 0.2
SERVERS = [f"srv{i}" for i in range(20)]
TOOLS = [f"{s}/tool_{j}" for s in SERVERS for j in range(10)]
ROLES = ["admin", "operator", "submitter", "viewer"]


REDIS_DB = 12
"""The benchmark's Redis DB index (as :data:`benchmarks.infra.REDIS_DB`; never the tests' 9)."""


def _redis_url() -> str:
    host = os.environ.get("BENCH_REDIS_HOST", "127.0.0.1")
    return f"redis://{host}:{os.environ.get('BENCH_REDIS_PORT', '6379')}/{REDIS_DB}"


def _admin_dsn() -> str:
    return os.environ.get("BENCH_PG_DSN", "postgresql://root@127.0.0.1:5432/postgres")


async def _recreate_database(name: str, *, create: bool = True) -> str:
    """Drop (and create) database ``name`` on ``BENCH_PG_DSN``'s server; its SQLAlchemy URL.

    (Not :class:`benchmarks.infra.Infra`, which needs the ``bench`` extra's psutil: this
    benchmark runs with the ``dev`` install alone.)
    """
    dsn = _admin_dsn()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{dsn.rsplit('/', 1)[0].split('://', 1)[1]}/{name}"


def make_tags(count: int, rng: random.Random) -> list[Tag]:
    """``count`` tags of every kind: grants, denials and scopes on ``server/tool`` globs; a few
    apply to the measured principal (role ``submitter``), most to other users and roles."""
    tags: list[Tag] = [Tag.model_validate({
        "tag": "company", "kind": "company",
        "payload": {"config": {"denied_tools": ["srv19/*"]}, "content": "You work for Bench."},
    })]  # fmt: skip
    kinds = ["role", "function", "flow", "tool"]
    for i in range(1, count):
        kind = kinds[i % len(kinds)]
        mine = i % 50 == 0  # ~2 % of the tags apply to the measured principal
        server = rng.choice(SERVERS[:-1] if mine else SERVERS)  # srv19/* is denied to all
        config: dict[str, Any] = {
            "assigned_roles": ["submitter"] if mine else [rng.choice(["operator", "viewer"])],
            "assigned_users": [] if mine else [f"user:u{rng.randrange(500)}"],
            "allowed_tools": [f"{server}/*", f"{rng.choice(SERVERS)}/tool_{rng.randrange(10)}"],
            "denied_tools": [f"{rng.choice(SERVERS)}/tool_9"] if i % 7 == 0 else [],
            "tool_scopes": {
                f"{server}/tool_1": {
                    "type": "object",
                    "properties": {
                        "max_count": {"type": "integer", "maximum": 5 + i % 10},
                        "repo_path": {"type": "string", "maxLength": 200},
                    },
                }
            }
            if i % 3 == 0 or mine
            else {},
            "intents": ["*"] if kind in ("function", "flow") and mine else [],
        }
        tags.append(Tag.model_validate({
            "tag": f"{kind}-{i:04d}", "kind": kind,
            "payload": {"meta": {"title": f"tag {i}"}, "config": config,
                        "content": f"Prompt text of tag {i}." if kind != "tool" else None},
        }))  # fmt: skip
    return tags


def summary(samples_ns: list[int]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds."""
    ordered = sorted(samples_ns)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    return {"p50_ms": round(pick(0.5), 4), "p95_ms": round(pick(0.95), 4),
            "p99_ms": round(pick(0.99), 4),
            "mean_ms": round(statistics.fmean(ordered) / 1e6, 4), "n": len(ordered)}  # fmt: skip


async def timed(n: int, call: Callable[[int], Awaitable[Any]]) -> list[int]:
    """Run ``call(i)`` ``n`` times; each duration in nanoseconds."""
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        await call(i)
        out.append(time.perf_counter_ns() - t0)
    return out


async def run(
    tag_count: int, decisions: int, cold_samples: int, database: str = DATABASE
) -> dict[str, Any]:
    """Set up the tenant and measure; returns the results document. The database and the Redis
    keys are removed at the end."""
    url = await _recreate_database(database)
    await asyncio.to_thread(upgrade, url)
    trace = TraceStore.from_url(url, pool_size=2)
    redis = Redis.from_url(_redis_url())
    keys = Keys(f"benchtags{os.getpid()}x{int(time.time())}")
    rng = random.Random(14)
    try:
        store = SqlTagStore(trace.engine)
        t0 = time.perf_counter()
        for tag in make_tags(tag_count, rng):
            await store.put(TENANT, tag, author="bench")
        setup_seconds = time.perf_counter() - t0

        def new_policy() -> TagPolicy:
            cache = TagCache(redis, keys)
            return TagPolicy(TagResolver(store, cache, default_policy="deny"))

        actor = Actor(id="user:bench", tenant_id=TENANT, role="submitter")
        policy = new_policy()
        effective = await policy.effective(actor, intent="summarize")
        args = [{"max_count": rng.randrange(1, 12), "repo_path": "/srv/app"} for _ in range(64)]

        async def decide_args(i: int) -> None:
            await policy.decide(actor, TOOLS[i % len(TOOLS)], args[i % 64], intent="summarize")

        async def decide_list(i: int) -> None:
            await policy.decide(actor, TOOLS[i % len(TOOLS)], None, intent="summarize")

        scoped_tool = next(
            t
            for t in TOOLS
            if any(fnmatchcase(t, sc.pattern) for sc in effective.scopes)
            and effective.decide(t).allowed
        )

        async def decide_scoped(i: int) -> None:
            await policy.decide(actor, scoped_tool, args[i % 64], intent="summarize")

        async def visible(i: int) -> None:
            await policy.visible(actor, TOOLS, intent="summarize")

        await timed(decisions // 10, decide_args)  # warm-up: per-tool memo, validators
        with_args = await timed(decisions, decide_args)
        listing = await timed(decisions, decide_list)
        scoped = await timed(decisions, decide_scoped)
        visible_all = await timed(max(50, decisions // 100), visible)

        async def from_redis(i: int) -> None:
            await new_policy().effective(actor, intent="summarize")

        redis_warm = await timed(cold_samples, from_redis)

        cache = TagCache(redis, keys)
        resolver = TagResolver(store, cache, default_policy="deny")

        async def cold(i: int) -> None:
            await cache.invalidate([TENANT])  # a new generation: nothing cached anywhere
            await resolver.resolve(principal_of(actor), "summarize")

        async def invalidate_only(i: int) -> None:
            await cache.invalidate([TENANT])

        cold_total = await timed(cold_samples, cold)
        invalidations = await timed(cold_samples, invalidate_only)
        candidates = await store.applicable(TENANT)

        async def pure(i: int) -> None:
            resolve_policy(candidates, principal_of(actor), "summarize", default_policy="deny")

        async def read_tags(i: int) -> None:
            await store.applicable(TENANT)

        pure_resolution = await timed(cold_samples, pure)
        db_read = await timed(cold_samples, read_tags)
    finally:
        async for key in redis.scan_iter(f"{keys.prefix}:*"):
            await redis.delete(key)
        await redis.aclose()
        await trace.close()
        await _recreate_database(database, create=False)
    return {
        "run": {"started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": platform.python_version(), "tags": tag_count,
                "tools": len(TOOLS), "decisions": decisions, "cold_samples": cold_samples,
                "setup_seconds": round(setup_seconds, 2),
                "applied_tags": len(effective.tags), "target_p50_ms": TARGET_P50_MS},
        "decision_from_cache_with_arguments": summary(with_args),
        "decision_from_cache_listing": summary(listing),
        "decision_from_cache_scoped_tool": summary(scoped),
        "visible_of_200_tools": summary(visible_all),
        "resolution_from_redis": summary(redis_warm),
        "cold_resolution": summary([c - i for c, i in zip(cold_total, invalidations,
                                                          strict=True)]),
        "cold_parts": {"db_read_of_tenant_tags": summary(db_read),
                       "pure_resolution": summary(pure_resolution)},
    }  # fmt: skip


def markdown(doc: dict[str, Any]) -> str:
    """The report's table."""
    r = doc["run"]
    lines = [
        f"# Tag policy cost ({r['started_at']})", "",
        f"{r['tags']} tags in the tenant ({r['applied_tags']} apply to the principal), "
        f"{r['tools']} tools; Python {r['python']}.", "",
        "| measure | p50 ms | p95 ms | p99 ms | n |", "|---|---|---|---|---|",
    ]  # fmt: skip
    rows = [
        ("decision from cache, with arguments", doc["decision_from_cache_with_arguments"]),
        ("decision from cache, listing (no arguments)", doc["decision_from_cache_listing"]),
        (
            "decision from cache, a scoped tool (JSON Schema check)",
            doc["decision_from_cache_scoped_tool"],
        ),
        ("visible() of 200 tools", doc["visible_of_200_tools"]),
        ("resolution from Redis (new process)", doc["resolution_from_redis"]),
        ("cold resolution (PostgreSQL + resolve + Redis write)", doc["cold_resolution"]),
        ("  of which: reading the tenant's tags", doc["cold_parts"]["db_read_of_tenant_tags"]),
        ("  of which: pure resolution", doc["cold_parts"]["pure_resolution"]),
    ]
    for label, s in rows:
        lines.append(f"| {label} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['n']} |")
    p50 = doc["decision_from_cache_with_arguments"]["p50_ms"]
    verdict = "met" if p50 <= TARGET_P50_MS else "missed"
    lines += [
        "",
        f"Target: decision from cache ≤ {TARGET_P50_MS} ms p50: **{verdict}** ({p50} ms).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure, print the table, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--cold-samples", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--database", default=DATABASE, help="Created, then dropped.")
    args = parser.parse_args(argv)
    doc = asyncio.run(run(args.tags, args.decisions, args.cold_samples, args.database))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stamp}-policy.json").write_text(json.dumps(doc, indent=2) + "\n")
    text = markdown(doc)
    (args.out / f"{stamp}-policy.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
