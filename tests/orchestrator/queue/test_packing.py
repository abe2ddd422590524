"""Commands packed by hiredis are byte for byte redis-py's, and the client built on them talks to
a real Redis (plain commands, a command name with a space, pipelines, scripts, large values)."""

from __future__ import annotations

import os
import uuid

import pytest
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from orchestrator.queue.arq import connect_redis
from orchestrator.queue.packing import HiredisPacking, hiredis_packing

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/9"

COMMANDS = [
    ("SET", "k", "v"),
    ("SET", b"k", b"\x00\xff binary"),
    ("SET", "k", memoryview(b"from a view")),
    ("HSET", "h", "int", 0, "neg", -3, "big", 2**70),
    ("ZADD", "z", 0.1, "a", 1e20, "b", 1.5e-7, "c", float("inf"), "d", 1.0, "e"),
    ("SET", "clé", "é €"),
    ("CONFIG GET", "maxmemory"),
    (b"CONFIG GET", b"maxmemory"),
    ("SET", "big", "x" * 100_000),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]) + ":" + str(c[1])[:8])
def test_bytes_are_redis_pys(command: tuple[object, ...]) -> None:
    ours = b"".join(hiredis_packing(Connection)().pack_command(*command))
    theirs = b"".join(Connection().pack_command(*command))
    assert ours == theirs


@pytest.mark.parametrize("bad", [None, True, ["a"], {"a": 1}, object()])
def test_an_argument_of_another_type_is_refused_as_redis_py_refuses_it(bad: object) -> None:
    with pytest.raises(DataError):
        Connection().pack_command("SET", "k", bad)
    with pytest.raises(DataError):
        hiredis_packing(Connection)().pack_command("SET", "k", bad)


def test_each_connection_class_keeps_its_transport() -> None:
    for cls in (Connection, SSLConnection, UnixDomainSocketConnection):
        packed = hiredis_packing(cls)
        assert issubclass(packed, cls) and issubclass(packed, HiredisPacking)
        assert hiredis_packing(cls) is packed  # one class per transport


async def test_the_client_round_trips_through_real_redis() -> None:
    redis = connect_redis(os.environ.get("ORCH_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL),
                          max_connections=2)
    assert issubclass(redis.connection_pool.connection_class, HiredisPacking)
    key = f"tpack{uuid.uuid4().hex[:10]}"
    try:
        big = os.urandom(200_000)
        await redis.set(key, big)
        assert await redis.get(key) == big
        assert "maxmemory" in await redis.config_get("maxmemory")
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"{key}:h", mapping={"a": 1, "b": 2.5, "c": "é"})
            pipe.hgetall(f"{key}:h")
            _, fields = await pipe.execute()
        assert fields == {b"a": b"1", b"b": b"2.5", b"c": "é".encode()}
        script = redis.register_script("return {KEYS[1], ARGV[1], ARGV[2]}")
        assert await script(keys=[key], args=[7, 0.25]) == [key.encode(), b"7", b"0.25"]
    finally:
        await redis.delete(key, f"{key}:h")
        await redis.aclose(close_connection_pool=True)
