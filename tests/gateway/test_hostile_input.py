"""Hostile input never reaches a 5xx and leaves nothing behind (issue 11, defect 5).

Bodies are sent as raw bytes, so they can hold what a JSON library would refuse to write: NUL
characters, lone surrogates, ``NaN``/``Infinity`` and numbers that overflow to infinity, invalid
UTF-8, nesting 100,000 deep, and a chunked body above the size limit with no Content-Length.
PostgreSQL's jsonb cannot store NUL or non-finite numbers, and UTF-8 cannot carry a lone
surrogate: each is a 422 naming the field, before any row or key is written.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from orchestrator.config import Settings
from tests.gateway import flows
from tests.support.stack import InProcessStack, in_process_stack

SettingsFactory = Callable[..., Settings]

JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def stack(isolated_settings: SettingsFactory) -> AsyncIterator[InProcessStack]:
    settings = isolated_settings(auth={"max_body_bytes": 64 * 1024})
    async with in_process_stack(settings, flows.registry(flows.echoing), with_worker=False) as s:
        yield s


async def footprint(stack: InProcessStack, redis: Redis) -> tuple[int, set[bytes]]:
    """Jobs in the database and state keys in Redis (rate-limit counters aside)."""
    total = (await stack.services.trace.list_jobs(limit=1))[1]
    prefix = stack.services.settings.state.key_prefix
    keys = {
        k
        async for k in redis.scan_iter(match=f"{prefix}:*")
        if b":rate:" not in k and b":ratelimit" not in k and b":streams:" not in k
    }
    return total, keys


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return dict(error)


def named_fields(error: dict[str, Any]) -> list[str]:
    return [
        str(e.get("parameter") or ".".join(e.get("location") or []))
        for e in error["details"].get("errors", [])
    ]


SUBMITS: list[tuple[str, bytes, str, str]] = [
    # (case, raw body, code, the field the error must name)
    (
        "nul in a string input",
        b'{"workflow": "echoing", "inputs": {"text": "a\\u0000b"}}',
        "inputs_invalid",
        "text",
    ),
    (
        "nul deep inside an input",
        b'{"workflow": "echoing", "inputs": {"payload": {"k": ["x", "\\u0000"]}}}',
        "inputs_invalid",
        "payload",
    ),
    (
        "nul in an input's key",
        b'{"workflow": "echoing", "inputs": {"payload": {"a\\u0000": 1}}}',
        "inputs_invalid",
        "payload",
    ),
    (
        "nul in the idempotency key",
        b'{"workflow": "echoing", "inputs": {}, "idempotency_key": "k\\u0000"}',
        "request_invalid",
        "idempotency_key",
    ),
    (
        "NaN in an input",
        b'{"workflow": "echoing", "inputs": {"ratio": NaN}}',
        "inputs_invalid",
        "ratio",
    ),
    (
        "Infinity in any input",
        b'{"workflow": "echoing", "inputs": {"payload": [-Infinity]}}',
        "inputs_invalid",
        "payload",
    ),
    (
        "1e999 in an input",
        b'{"workflow": "echoing", "inputs": {"ratio": 1e999}}',
        "inputs_invalid",
        "ratio",
    ),
    (
        "'nan' as a float's text",
        b'{"workflow": "echoing", "inputs": {"ratio": "nan"}}',
        "inputs_invalid",
        "ratio",
    ),
    (
        "a lone surrogate in a string input",
        b'{"workflow": "echoing", "inputs": {"text": "\\ud800"}}',
        "inputs_invalid",
        "text",
    ),
    (
        "a lone surrogate in an unknown input's name",
        b'{"workflow": "echoing", "inputs": {"\\udfff": 1}}',
        "inputs_invalid",
        "\\udfff",
    ),
    (
        "a lone surrogate in the idempotency key",
        b'{"workflow": "echoing", "inputs": {}, "idempotency_key": "\\ud800"}',
        "request_invalid",
        "idempotency_key",
    ),
    (
        "a lone surrogate in the version",
        b'{"workflow": "echoing", "inputs": {}, "version": "\\udc00"}',
        "request_invalid",
        "version",
    ),
]


@pytest.mark.parametrize(("case", "body", "code", "field"), SUBMITS, ids=[s[0] for s in SUBMITS])
async def test_a_hostile_submit_is_a_422_naming_the_field_and_leaves_nothing(
    stack: InProcessStack, redis: Redis, case: str, body: bytes, code: str, field: str
) -> None:
    before = await footprint(stack, redis)
    for accept in ("application/json", "text/event-stream"):  # both submit paths
        response = await stack.client.post(
            "/v1/jobs", content=body, headers={**JSON, "Accept": accept}
        )
        error = error_of(response, 422, code)
        assert any(field in name for name in named_fields(error)), (case, error)
    assert await footprint(stack, redis) == before


async def test_a_huge_last_event_id_is_a_422_naming_the_header(stack: InProcessStack) -> None:
    r = await stack.client.post("/v1/jobs", json={"workflow": "echoing", "inputs": {}})
    job_id = r.json()["job_id"]
    for value in (
        "99999999999999999999999-0",
        "1-99999999999999999999999",
        "18446744073709551616-0",
        "-1-0",
        " 1-0",
        "1-0-0",
        "\u0663-0",
    ):
        response = await stack.client.get(
            f"/v1/jobs/{job_id}/events",
            headers={"Last-Event-ID": value.encode().decode() if value.isascii() else "x"},
        )
        error = error_of(response, 422, "inputs_invalid")
        assert named_fields(error) == ["Last-Event-ID"], value
        response = await stack.client.get(f"/v1/jobs/{job_id}/events", params={"after": value})
        assert error_of(response, 422, "inputs_invalid")


async def test_a_chunked_body_over_the_limit_without_content_length_is_a_413(
    stack: InProcessStack, redis: Redis
) -> None:
    before = await footprint(stack, redis)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"workflow": "echoing", "inputs": {"text": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}}'

    response = await stack.client.post("/v1/jobs", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    error_of(response, 413, "payload_too_large")
    assert await footprint(stack, redis) == before


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("invalid utf-8", b'{"workflow": "echoing", "inputs": {"text": "\xff\xfe"}}'),
        ("a truncated utf-8 sequence", b'{"workflow": "echoing", "inputs": {"text": "\xe2\x82"}}'),
        (
            "nested 100,000 deep",
            b'{"workflow": "echoing", "inputs": {"payload": '
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}}",
        ),
        (
            "objects nested 20,000 deep",
            b'{"workflow": "echoing", "inputs": ' + b'{"a":' * 20_000 + b"1" + b"}" * 20_000 + b"}",
        ),
        ("not json at all", b"{'workflow': "),
    ],
)
async def test_a_body_that_is_not_json_is_a_422_json_invalid(
    isolated_settings: SettingsFactory, redis: Redis, case: str, body: bytes
) -> None:
    settings = isolated_settings(auth={"max_body_bytes": 1024 * 1024})
    async with in_process_stack(settings, flows.registry(flows.echoing), with_worker=False) as s:
        before = await footprint(s, redis)
        for path in ("/v1/jobs", f"/v1/jobs/{uuid.uuid4()}/input"):
            response = await s.client.post(path, content=body, headers=JSON)
            error_of(response, 422, "json_invalid")
        assert await footprint(s, redis) == before


async def test_a_hostile_answer_is_a_422_answer_invalid(stack: InProcessStack) -> None:
    """An answer is stored in Redis and read by a step: a lone surrogate cannot be stored, and a
    non-finite number would silently become null. It is refused before the job is looked at."""
    r = await stack.client.post("/v1/jobs", json={"workflow": "echoing", "inputs": {}})
    job_id = r.json()["job_id"]
    for body in (b'{"answer": "\\ud800"}', b'{"answer": [NaN]}', b'{"answer": {"x": 1e999}}'):
        response = await stack.client.post(f"/v1/jobs/{job_id}/input", content=body, headers=JSON)
        error = error_of(response, 422, "answer_invalid")
        assert all(name.startswith("answer") for name in named_fields(error)), error
