"""The OpenAPI document's security: bearer API keys or JWTs, so Swagger UI's "Authorize" works.

Every operation needs ``Authorization: Bearer <API key | JWT>`` (or ``X-API-Key``) except the
probes (``/healthz``, ``/readyz``), which the document marks as open. ``/docs``, ``/redoc`` and
``/openapi.json`` themselves are served without credentials: they describe the API and carry no
data, and a person must load them to paste a key into "Authorize" (docs/security.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""Operations that need no credentials."""

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`orchestrator keys create`) or a JWT (HS256, or RS256/ES256 "
        "from ORCH_AUTH__JWKS_URL).",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key in its own header, for clients that cannot set Authorization.",
    },
}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare :data:`SECURITY_SCHEMES` and require one of them on every
    operation but :data:`OPEN_PATHS`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            schema["security"] = [{"bearer": []}, {"apiKey": []}]
            for path, operations in schema.get("paths", {}).items():
                if path in OPEN_PATHS:
                    for operation in operations.values():
                        operation["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["OPEN_PATHS", "SECURITY_SCHEMES", "install_openapi"]
