"""The WebSocket route authenticates like the others and refuses with an error frame and a code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
import websockets
from websockets.exceptions import ConnectionClosed

from gateway.app import create_app
from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from orchestrator.services import Services
from tests.conftest import wait_until
from tests.gateway import flows

SettingsFactory = Callable[..., Settings]


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[str, Services]]:
    services = await Services.open(settings, flows.registry())
    server = uvicorn.Server(uvicorn.Config(create_app(settings, services=services),
                                           host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.ensure_future(server.serve())
    try:
        async def started() -> bool:
            return bool(server.started)

        await wait_until(started, what="uvicorn to start")
        yield f"127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", services
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        await services.close()


async def refusal(url: str, **kwargs: Any) -> tuple[dict[str, Any], int | None]:
    async with websockets.connect(url, open_timeout=5, **kwargs) as ws:
        frame = json.loads(await ws.recv())
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed:
            pass
        return frame, ws.close_code


async def test_the_websocket_refuses_missing_foreign_and_oversized_with_codes(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(auth={"query_token": True, "ws_max_message_bytes": 100})
    async with served(settings) as (host, services):
        store = ApiKeyStore(services.trace.engine)
        _, mine = await store.create("ws-a", "submitter")
        _, theirs = await store.create("ws-b", "admin")
        import httpx

        async with httpx.AsyncClient(base_url=f"http://{host}") as client:
            job_id = (await client.post(
                "/v1/jobs", json={"workflow": "greeting", "inputs": {"word": "a", "count": 1}},
                headers={"Authorization": f"Bearer {mine}"})).json()["job_id"]  # fmt: skip
        url = f"ws://{host}/v1/jobs/{job_id}/ws"

        frame, code = await refusal(url)
        assert (frame["error"]["code"], code) == ("unauthenticated", 4401)
        frame, code = await refusal(url, additional_headers={"Authorization": f"Bearer {theirs}"})
        assert (frame["error"]["code"], code) == ("job_not_found", 4404)

        # The owner, by query token (browsers): events flow; a huge message closes with 1009.
        async with websockets.connect(f"{url}?access_token={mine}", open_timeout=5) as ws:
            assert json.loads(await ws.recv())["type"] == "job.queued"
            await ws.send(json.dumps({"type": "cancel", "pad": "x" * 200}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "error":
                    break
            assert message["error"]["code"] == "payload_too_large"
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed:
                pass
            assert ws.close_code == 1009
        rows, _ = await services.trace.list_audit(tenant_id="ws-b", job_id=job_id)
        assert [(r.action, r.details["status"]) for r in rows] == [("job.read", 404)]


async def test_a_session_websocket_over_its_message_rate_is_told_and_closed_with_1008(
    isolated_settings: SettingsFactory,
) -> None:
    settings = isolated_settings(auth={"query_token": True, "ws_message_rate": "3/minute"})
    async with served(settings) as (host, services):
        _, key = await ApiKeyStore(services.trace.engine).create("ws-s", "submitter")
        import httpx

        async with httpx.AsyncClient(base_url=f"http://{host}") as client:
            r = await client.post("/v1/sessions", json={},
                                  headers={"Authorization": f"Bearer {key}"})  # fmt: skip
            assert r.status_code == 201, r.text
        url = f"ws://{host}/v1/sessions/{r.json()['session_id']}/ws?access_token={key}"
        codes: list[str] = []
        async with websockets.connect(url, open_timeout=5) as ws:
            for _ in range(4):
                await ws.send(json.dumps({"type": "nonsense"}))
            try:
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if frame.get("type") == "error":
                        codes.append(frame["error"]["code"])
            except ConnectionClosed:
                pass
            assert ws.close_code == 1008
    assert codes == ["message_invalid"] * 3 + ["rate_limited"]
