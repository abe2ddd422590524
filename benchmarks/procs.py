"""Child processes of a benchmark: started in their own process group, always cleaned up.

Every worker, gateway or server a system needs is a :class:`Child`. Each runs in a new session
(so ``kill -9`` of its group also takes prefork children, as a pod kill would), logs to a file,
and is registered so that :func:`kill_all` (called at exit and on failure) leaves nothing behind.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
"""The repository root: the working directory of every child."""

_LIVE: set[Child] = set()


class Child:
    """One child process.

    Args:
        name: A short name, used for its log file.
        argv: The command; ``python`` as ``argv[0]`` means this interpreter.
        env: Extra environment variables (added to this process's).
        log_dir: Where ``<name>.log`` goes.
    """

    def __init__(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], log_dir: Path
    ) -> None:
        self.name = name
        argv = [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _LIVE.add(self)

    @property
    def pid(self) -> int:
        """The process id (also its process-group id)."""
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None

    def tail(self, chars: int = 2000) -> str:
        """The end of its log, for error messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill9(self) -> None:
        """``SIGKILL`` the whole process group, as a node or pod failure would."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._close()

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """``SIGTERM`` the group, then ``SIGKILL`` it after ``timeout_seconds``."""
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                pass
        self.kill9()

    def _close(self) -> None:
        _LIVE.discard(self)
        if not self._log.closed:
            self._log.close()

    def rss_bytes(self) -> int:
        """Resident memory of the process and all its descendants, in bytes (0 once gone)."""
        try:
            top = psutil.Process(self.pid)
            procs = [top, *top.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout_seconds: float,
    what: str,
    children: Sequence[Child] = (),
    interval_seconds: float = 0.02,
) -> None:
    """Poll ``predicate`` until true; fail with the children's logs after the timeout.

    Raises:
        RuntimeError: The timeout passed, or one of ``children`` exited meanwhile.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            if predicate():
                return
        except Exception:  # not up yet (connection refused and the like)
            pass
        for c in children:
            if not c.alive():
                raise RuntimeError(f"{c.name} exited while waiting for {what}:\n{c.tail()}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {c.name}\n{c.tail()}" for c in children)
            raise RuntimeError(f"timed out after {timeout_seconds} s waiting for {what}\n{logs}")
        time.sleep(interval_seconds)


def kill_all() -> None:
    """Stop every child still running (exit handler and failure path)."""
    for child in list(_LIVE):
        child.stop(timeout_seconds=3)


atexit.register(kill_all)


LOCK_PATH = Path("/tmp/agent-orchestrator-bench.lock")


class exclusive_run:
    """Hold the machine-wide benchmark lock: two runs at once share the 2 cores, the databases
    (``orch_bench``, ``dbos_bench``) and the Redis DBs, and would spoil each other's figures.

    Args:
        timeout_seconds: How long to wait for another run to finish.

    Raises:
        RuntimeError: Another run still holds the lock after ``timeout_seconds``.
    """

    def __init__(self, timeout_seconds: float = 1800.0) -> None:
        self.timeout_seconds = timeout_seconds
        self._file: Any = None

    def __enter__(self) -> exclusive_run:
        import fcntl

        self._file = open(LOCK_PATH, "a+")
        deadline = time.monotonic() + self.timeout_seconds
        told = False
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    self._file.seek(0)
                    print(f"waiting for another benchmark run ({self._file.read().strip()})",
                          flush=True)
                    told = True
                if time.monotonic() > deadline:
                    raise RuntimeError("another benchmark run holds " + str(LOCK_PATH)) from None
                time.sleep(1)
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"pid {os.getpid()}: {' '.join(sys.argv)}\n")
        self._file.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        import fcntl

        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


__all__ = ["ROOT", "Child", "exclusive_run", "free_port", "kill_all", "wait_for"]
