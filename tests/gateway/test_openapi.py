"""The OpenAPI document says how to authenticate, so Swagger UI's "Authorize" works."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from orchestrator.config import Settings
from tests.gateway import flows
from tests.support.stack import in_process_stack


async def test_the_document_declares_bearer_and_api_key_schemes_and_open_probes(
    isolated_settings: Callable[..., Settings],
) -> None:
    async with in_process_stack(isolated_settings(), flows.registry(), with_worker=False) as stack:
        anonymous = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=stack.app), base_url="http://gateway"
        )
        doc = (await anonymous.get("/openapi.json")).json()
        docs = await anonymous.get("/docs")
        await anonymous.aclose()

    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    assert doc["security"] == [{"bearer": []}, {"apiKey": []}]
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["paths"]["/readyz"]["get"]["security"] == []
    assert "security" not in doc["paths"]["/v1/jobs"]["post"]  # the document-wide requirement
    assert docs.status_code == 200  # /docs needs no credentials: it holds no data
