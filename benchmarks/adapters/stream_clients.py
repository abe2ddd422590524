"""Workload (e)'s measuring clients, run in child processes so that the measuring side is not
the bottleneck: 100 clients receiving a chunk per millisecond each are 100,000 messages/s, more
than one Python process parses with httpx-sse (the first version of (e) ran every client in
the runner's process, and its p50 measured the runner's backlog, ~0.5 s).

Each child runs ``n`` clients of one job on uvloop, each an :class:`asyncio.Protocol` on a raw
connection that parses only what the measure needs: SSE (chunked transfer decoding and the
``data:`` lines of WHATWG HTML §9.2) or WebSocket (the RFC 6455 handshake, no extension
offered, unmasked server frames): no stream reader, no task switch per read.

A chunk's latency is the wall clock when the bytes carrying it were read minus the ``t``
(epoch s) the step put in it; one machine, one clock.

Protocol with the parent (one line each, on the child's stdin/stdout)::

    child  -> "up"                                  imported, ready for a job
    parent -> {"job_id", "url", "headers", "transport", "clients", "out"}  (JSON)
    child  -> "connected <epoch s>"                 when every client's stream is open
    child  -> "done"                                at the end, after writing to the file
                                                    ``out`` [[[i, latency_ms], ...], ...]
                                                    (JSON, one list per client)

Run: ``python -m benchmarks.adapters.stream_clients`` (the parent is
:func:`benchmarks.adapters.project.ProjectSystem.stream`).
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from typing import Any, cast
from urllib.parse import urlsplit

import orjson

TERMINAL = {"job.succeeded", "job.failed", "job.cancelled"}

Received = list[tuple[int, float]]
"""``(chunk index, latency in ms)`` in arrival order."""


class _Dechunker:
    """HTTP/1.1 chunked transfer decoding (RFC 9112 §7.1), incremental; no trailers."""

    def __init__(self) -> None:
        self._raw = b""
        self._size: int | None = None
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        """The body bytes that ``data`` completes (possibly empty)."""
        self._raw += data
        out: list[bytes] = []
        while not self.ended:
            if self._size is None:
                eol = self._raw.find(b"\r\n")
                if eol < 0:
                    break
                self._size = int(self._raw[:eol].split(b";", 1)[0], 16)
                self._raw = self._raw[eol + 2:]
                if self._size == 0:
                    self.ended = True
                    break
            if len(self._raw) < self._size + 2:
                break
            out.append(self._raw[: self._size])
            self._raw = self._raw[self._size + 2:]
            self._size = None
        return b"".join(out)


class _Frames:
    """Server-to-client WebSocket frames (RFC 6455 §5.2: unmasked), incremental; only whole
    (unfragmented) messages, as the gateway sends."""

    def __init__(self) -> None:
        self._raw = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """The ``(opcode, payload)`` of the frames ``data`` completes."""
        self._raw += data
        raw, at, out = self._raw, 0, []
        while len(raw) - at >= 2:
            b0, b1 = raw[at], raw[at + 1]
            if not b0 & 0x80:
                raise RuntimeError("a fragmented WebSocket message")
            size, head = b1 & 0x7F, 2
            if size == 126:
                if len(raw) - at < 4:
                    break
                size, head = int.from_bytes(raw[at + 2:at + 4], "big"), 4
            elif size == 127:
                if len(raw) - at < 10:
                    break
                size, head = int.from_bytes(raw[at + 2:at + 10], "big"), 10
            if len(raw) - at < head + size:
                break
            out.append((b0 & 0x0F, raw[at + head:at + head + size]))
            at += head + size
        self._raw = raw[at:]
        return out


class _Client(asyncio.Protocol):
    """One client on a raw connection: sends the request, then parses what arrives in
    ``data_received`` itself (no stream reader, no task switch per read).

    Args:
        request: The HTTP request (an SSE GET, or a WebSocket upgrade).
        websocket: The answer is ``101`` and WebSocket frames, else ``200`` and chunked SSE.
    """

    def __init__(self, request: bytes, websocket: bool) -> None:
        self.request = request
        self.websocket = websocket
        self.received: Received = []
        self.connected = asyncio.get_running_loop().create_future()
        self.finished = asyncio.get_running_loop().create_future()
        self._head = b""
        self._open = False
        self._chunks = _Dechunker()
        self._sse = b""
        self._frames = _Frames()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        try:
            if not self._open:
                self._head += data
                end = self._head.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, data = self._head[:end], self._head[end + 4:]
                want = b"HTTP/1.1 101" if self.websocket else b"HTTP/1.1 200"
                if not head.startswith(want):
                    raise RuntimeError(f"refused: {head[:200]!r}")
                if not self.websocket and b"chunked" not in head.lower():
                    raise RuntimeError(f"SSE answer not chunked: {head[:400]!r}")
                self._open = True
                self.connected.set_result(now)
            if self.websocket:
                payloads = []
                for opcode, payload in self._frames.feed(data):
                    if opcode == 0x8:  # close
                        self._finish()
                        break
                    if opcode in (0x1, 0x2):  # ping/pong: a stream of seconds needs none
                        payloads.append(payload)
            else:
                self._sse += self._chunks.feed(data)
                *messages, self._sse = self._sse.split(b"\n\n")
                payloads = [line[5:] for message in messages for line in message.split(b"\n")
                            if line.startswith(b"data:")]
                if self._chunks.ended:
                    self._finish()
            for payload in payloads:
                event = orjson.loads(payload)
                kind = event.get("type")
                if kind == "step.chunk":
                    chunk = event["data"]
                    self.received.append((chunk["i"], (now - chunk["t"]) * 1000))
                elif kind in TERMINAL:
                    self._finish()
        except Exception as exc:  # handed to the waiting coroutine
            self._finish(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(exc or ConnectionError("closed before the answer"))
        self._finish()

    def _finish(self, exc: BaseException | None = None) -> None:
        if not self.finished.done():
            if exc is None:
                self.finished.set_result(None)
            else:
                self.finished.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


def _request(url: str, path: str, headers: dict[str, str], websocket: bool) -> bytes:
    parts = urlsplit(url)
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}"]
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                  "Sec-WebSocket-Version: 13"]
    else:
        lines += ["Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _run(job: dict[str, Any]) -> list[Received]:
    websocket = job["transport"] == "ws"
    path = f"/v1/jobs/{job['job_id']}/" + ("ws" if websocket else "events")
    request = _request(job["url"], path, job["headers"], websocket)
    parts = urlsplit(job["url"])
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(int(job["clients"])):
        _, client = await loop.create_connection(
            lambda: _Client(request, websocket), parts.hostname, parts.port)
        clients.append(client)
    at = await asyncio.gather(*(c.connected for c in clients))
    print(f"connected {max(at)}", flush=True)
    await asyncio.gather(*(c.finished for c in clients))
    return [c.received for c in clients]


def main() -> None:
    """Child entry point (see the module docstring for the protocol)."""
    print("up", flush=True)
    job = orjson.loads(sys.stdin.readline())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency of the gateway
        runner = asyncio.run
    received = runner(_run(job))
    with open(job["out"], "wb") as f:
        f.write(orjson.dumps(received))
    print("done", flush=True)
    os._exit(0)  # skip the interpreter's teardown of 100,000 tuples


if __name__ == "__main__":
    main()
