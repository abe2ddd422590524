"""Workload (b)'s submitting clients, run in a child process so that the measuring side is not
the bottleneck: the SDK's client (httpx) costs ~1.5 ms of CPU per submit on these 2 cores, as
much as the gateway's handling of it, so a submit rate measured through it is half the client's.

The child keeps ``connections`` HTTP/1.1 keep-alive connections open, each with one request in
flight at a time (``POST /v1/jobs`` with the caller's headers and a fixed JSON body), until
``count`` submits in all were answered. Each connection is an :class:`asyncio.Protocol` that
reads ``Content-Length`` answers itself (RFC 9112 §6.3): no stream reader, no task per request.
Any answer but ``202`` stops the run with the answer's head in the error.

Protocol with the parent (one line each, on the child's stdin/stdout)::

    child  -> "up"                                            imported, ready
    parent -> {"url", "path", "headers", "body", "count", "connections"}   (JSON)
    child  -> "done <answered> <seconds>" | "error <message>"

Run: ``python -m benchmarks.adapters.submit_clients`` (the parent is
:func:`benchmarks.adapters.project.ProjectSystem.enqueue_noops`).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, cast
from urllib.parse import urlsplit

import orjson


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending ``request`` again after each whole answer while the
    shared budget ``left`` (a one-item list) lasts."""

    def __init__(self, request: bytes, left: list[int]) -> None:
        self.request = request
        self.left = left
        self.answered = 0
        self.finished = asyncio.get_running_loop().create_future()
        self._buf = b""
        self._need: int | None = None  # bytes of the current answer, once its head is read
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self._next()

    def _next(self) -> None:
        if self.left[0] <= 0:
            self._finish()
            return
        self.left[0] -= 1
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        try:
            while True:
                if self._need is None:
                    end = self._buf.find(b"\r\n\r\n")
                    if end < 0:
                        return
                    head = self._buf[:end]
                    if not head.startswith(b"HTTP/1.1 202"):
                        raise RuntimeError(f"answer: {self._buf[:600]!r}")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    self._need = end + 4 + length
                if len(self._buf) < self._need:
                    return
                self._buf = self._buf[self._need:]
                self._need = None
                self.answered += 1
                self._next()
        except Exception as exc:  # handed to the waiting coroutine
            self._finish(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc if self.left[0] > 0 or self._need is not None else None)

    def _finish(self, exc: BaseException | None = None) -> None:
        if not self.finished.done():
            if exc is None:
                self.finished.set_result(None)
            else:
                self.finished.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


def _request(url: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}",
             "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _run(job: dict[str, Any]) -> tuple[int, float]:
    body = orjson.dumps(job["body"])
    request = _request(job["url"], job["path"], job["headers"], body)
    parts = urlsplit(job["url"])
    loop = asyncio.get_running_loop()
    left = [int(job["count"])]
    t0 = time.perf_counter()
    conns = [
        (await loop.create_connection(lambda: _Connection(request, left),
                                      parts.hostname, parts.port))[1]
        for _ in range(int(job["connections"]))
    ]
    await asyncio.gather(*(c.finished for c in conns))
    return sum(c.answered for c in conns), time.perf_counter() - t0


def main() -> None:
    """Child entry point (see the module docstring for the protocol)."""
    print("up", flush=True)
    job = orjson.loads(sys.stdin.readline())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency of the gateway
        runner = asyncio.run
    try:
        answered, seconds = runner(_run(job))
    except Exception as exc:  # one line for the parent
        print(f"error {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
        return
    print(f"done {answered} {seconds}", flush=True)


if __name__ == "__main__":
    main()
