"""The shared services a run uses: Redis (one DB index per system), PostgreSQL databases, and a
second ``redis-server`` with ``appendfsync everysec`` for workload (d).

Defaults match ``make test``'s machine: Redis at ``127.0.0.1:6379`` and PostgreSQL at
``127.0.0.1:5432`` (user ``root``, trust). Override with ``BENCH_REDIS_HOST``/``BENCH_REDIS_PORT``
and ``BENCH_PG_DSN`` (an asyncpg DSN of the server's ``postgres`` database).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis as redis_sync

from benchmarks.procs import Child, free_port, wait_for

REDIS_DB = {"agent-orchestrator": 12, "arq": 12, "celery": 13, "celery-results": 14}
"""Redis DB index per system: none of them is the test suite's (9)."""


@dataclass
class Infra:
    """Where the services are, and what this run started itself.

    Attributes:
        redis_host, redis_port: The shared Redis.
        pg_dsn: asyncpg DSN of the server's ``postgres`` database (for CREATE/DROP DATABASE).
        log_dir: Where children log.
    """

    redis_host: str = field(default_factory=lambda: os.environ.get("BENCH_REDIS_HOST", "127.0.0.1"))
    redis_port: int = field(default_factory=lambda: int(os.environ.get("BENCH_REDIS_PORT", "6379")))
    pg_dsn: str = field(
        default_factory=lambda: os.environ.get(
            "BENCH_PG_DSN", "postgresql://root@127.0.0.1:5432/postgres"
        )
    )
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-logs-")))
    _aof: Child | None = None
    _aof_dir: Path | None = None
    _aof_port: int = 0

    def redis_url(self, system: str, *, port: int | None = None) -> str:
        """``redis://host:port/<db>`` for ``system`` (a key of :data:`REDIS_DB`)."""
        return f"redis://{self.redis_host}:{port or self.redis_port}/{REDIS_DB[system]}"

    def flush(self, system: str, *, port: int | None = None) -> None:
        """Empty ``system``'s Redis DB (only ours: never the test suite's)."""
        client = redis_sync.Redis(host=self.redis_host, port=port or self.redis_port,
                                  db=REDIS_DB[system])
        try:
            client.flushdb()
        finally:
            client.close()

    def redis_config(self, *names: str) -> dict[str, str]:
        """``CONFIG GET`` values of the shared Redis (recorded in the report)."""
        client = redis_sync.Redis(host=self.redis_host, port=self.redis_port, decode_responses=True)
        try:
            out: dict[str, str] = {}
            for n in names:
                out.update(client.config_get(n))
            out["redis_version"] = client.info("server")["redis_version"]
            return out
        finally:
            client.close()

    def pg_url(self, database: str, *, driver: str = "postgresql+asyncpg") -> str:
        """A SQLAlchemy URL of ``database`` on the benchmark's server."""
        base = self.pg_dsn.rsplit("/", 1)[0].split("://", 1)[1]
        return f"{driver}://{base}/{database}"

    async def recreate_database(self, name: str) -> None:
        """Drop (forcibly) and create ``name``."""
        conn = await asyncpg.connect(self.pg_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    async def pg_version(self) -> str:
        """The server's ``SHOW server_version``."""
        conn = await asyncpg.connect(self.pg_dsn)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    def start_aof_redis(self, *, appendonly: bool = True) -> int:
        """Start a private ``redis-server`` (``--appendonly yes --appendfsync everysec``, or no
        AOF at all as the control); its port.

        Raises:
            RuntimeError: ``redis-server`` is missing or does not answer within 10 s.
        """
        if self._aof is not None:
            return self._aof_port
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (needed for the AOF variant)")
        port = free_port()
        self._aof_dir = Path(tempfile.mkdtemp(prefix="bench-aof-"))
        self._aof = Child(
            f"redis-aof-{port}",
            [binary, "--port", str(port), "--bind", "127.0.0.1",
             "--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec",
             "--save", "", "--dir", str(self._aof_dir)],
            env={}, log_dir=self.log_dir,
        )
        self._aof_port = port
        client = redis_sync.Redis(host="127.0.0.1", port=port)
        try:
            wait_for(client.ping, timeout_seconds=10, what="a private redis-server",
                     children=[self._aof])
        finally:
            client.close()
        return port

    def stop_aof_redis(self) -> None:
        """Stop the AOF server and delete its directory."""
        if self._aof is not None:
            self._aof.stop()
            self._aof = None
        if self._aof_dir is not None:
            shutil.rmtree(self._aof_dir, ignore_errors=True)
            self._aof_dir = None


__all__ = ["REDIS_DB", "Infra"]
