"""Property-based fuzz of the whole HTTP API from its OpenAPI document (schemathesis).

The app runs in-process (schemathesis' ASGI transport, its own event loop and lifespan) on the
real Redis and PostgreSQL, authenticated as an admin. Checks: no 5xx, and every response matches
the schema the document declares for it. Examples are bounded so the run stays well under 60 s.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.generation.case import Case
from schemathesis.generation.modes import GenerationMode

from gateway.app import create_app
from orchestrator.auth import ApiKeyStore
from orchestrator.config import Settings
from orchestrator.trace.store import TraceStore
from tests.gateway import flows

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def fuzz_key(isolated_settings: SettingsFactory) -> tuple[Settings, str]:
    app_settings = isolated_settings(auth={"submit_rate_per_key": "100000/minute",
                                           "stream_rate_per_key": "100000/minute"})

    async def create() -> str:
        assert app_settings.database.url is not None
        trace = TraceStore.from_url(app_settings.database.url, pool_size=1)
        try:
            _, key = await ApiKeyStore(trace.engine).create(f"fuzz-{uuid.uuid4().hex[:6]}",
                                                            "admin", "fuzz")
        finally:
            await trace.close()
        return key

    return app_settings, asyncio.run(create())


MAX_EXAMPLES = 50
"""Per operation; about 23 operations x 50 examples finish in well under 60 s."""


def test_no_input_makes_the_api_fail_or_break_its_schema(
    fuzz_key: tuple[Settings, str],
) -> None:
    app_settings, key = fuzz_key
    # Services are opened by the app's own lifespan, in schemathesis' event loop. (Driven with
    # hypothesis directly: schemathesis' pytest plugin does not support pytest 9 yet.)
    app = create_app(app_settings, registry=flows.registry())
    # The event stream of an unfinished job never ends by design; it has its own tests.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=r"/events$")
    headers = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        # Valid requests, and requests that break the schema on purpose (which must be 4xx).
        @given(case=operation.as_strategy(GenerationMode.POSITIVE)
               | operation.as_strategy(GenerationMode.NEGATIVE))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def fuzz(case: Case) -> None:
            response = case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance])
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # report every operation's failures
            failures.append(f"{operation.label}: {exc}")
    assert failures == []
    assert operations >= 15
    # The fuzzer got in (an admin key): most answers are not refusals.
    assert statuses.get(401, 0) + statuses.get(403, 0) == 0, statuses
