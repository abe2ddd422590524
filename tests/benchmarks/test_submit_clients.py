"""Workload (b)'s raw submitting clients against a real local HTTP/1.1 server (no services):
keep-alive answers split anywhere are read whole, exactly ``count`` requests are sent, and an
answer that is not 202 stops the run with its head."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.adapters import submit_clients


async def serve(status: bytes, seen: list[bytes]) -> tuple[asyncio.Server, int]:
    """Answers every request with ``status`` and a small JSON body, written in two pieces."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the client closed its connection
                break
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            seen.append(await reader.readexactly(length))
            body = b'{"job_id": "x"}'
            answer = (b"HTTP/1.1 " + status + b"\r\ncontent-length: " + str(len(body)).encode()
                      + b"\r\ncontent-type: application/json\r\n\r\n" + body)
            writer.write(answer[:20])
            await writer.drain()
            writer.write(answer[20:])
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_the_clients_send_exactly_count_submits_over_keep_alive_connections() -> None:
    seen: list[bytes] = []
    server, port = await serve(b"202 Accepted", seen)
    async with server:
        answered, seconds = await submit_clients._run({
            "url": f"http://127.0.0.1:{port}", "path": "/v1/jobs", "headers": {"X-K": "v"},
            "body": {"workflow": "w"}, "count": 25, "connections": 4})
    assert answered == 25 and len(seen) == 25 and seconds > 0
    assert set(seen) == {b'{"workflow":"w"}'}


async def test_an_answer_that_is_not_202_stops_the_run_with_its_head() -> None:
    server, port = await serve(b"429 Too Many Requests", [])
    async with server:
        with pytest.raises(RuntimeError, match="429"):
            await submit_clients._run({
                "url": f"http://127.0.0.1:{port}", "path": "/v1/jobs", "headers": {},
                "body": {}, "count": 3, "connections": 1})
