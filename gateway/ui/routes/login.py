"""``/ui``, ``/ui/login`` and ``/ui/logout``: exchanging an API key for a session cookie."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from gateway.auth import audit_refusal, auth_of
from gateway.ui.deps import Acting
from gateway.ui.render import render
from gateway.ui.session import COOKIE_NAME, CsrfError, login, sessions_of
from orchestrator.auth import Principal
from orchestrator.errors import AuthenticationError
from orchestrator.trace.records import AuditRecord

router = APIRouter(include_in_schema=False)


@router.get("/ui")
async def home() -> RedirectResponse:
    """The runs list."""
    return RedirectResponse("/ui/runs", status_code=303)


LOGIN_COOKIE = "orch_ui_login"
"""Login CSRF (double submit): the form's token must match this SameSite=Strict cookie, which a
cross-site POST does not carry. (``Origin`` cannot serve: the gateway's ``Referrer-Policy:
no-referrer`` makes browsers send ``Origin: null`` on form posts.)"""


def _login_page(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", auth_enabled=auth_of(request).authenticator.enabled,
                      error=error, login_token=token, status_code=status_code)  # fmt: skip
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/ui/login", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")  # fmt: skip
    return response


async def _audit(
    request: Request, principal: Principal, action: str, details: dict[str, Any]
) -> None:
    await request.app.state.services.trace.add_audit(AuditRecord(
        at=datetime.now(UTC), actor=principal.subject, action=action,
        tenant_id=principal.tenant_id, job_id=None, details=details,
        request_id=getattr(request.state, "request_id", None),
        client_ip=request.client.host if request.client else None,
    ))  # fmt: skip


@router.get("/ui/login")
async def login_form(request: Request) -> Response:
    """The login form (an API key)."""
    return _login_page(request)


@router.post("/ui/login")
async def login_submit(
    request: Request,
    api_key: Annotated[str, Form(max_length=8192)] = "",
    login_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Check the key; set the session cookie and go to the runs list (303).

    The cookie is HttpOnly, SameSite=Strict, path ``/ui``, Secure over https (or as
    ``ORCH_UI__COOKIE_SECURE`` says). A wrong key re-renders the form with a 401.
    """
    request.state.action = "ui.login"
    cookie_token = request.cookies.get(LOGIN_COOKIE) or ""
    if not login_token or not hmac.compare_digest(login_token.encode(), cookie_token.encode()):
        raise CsrfError(
            "the login form's token is missing or stale: reload the form",
            details={"reason": "csrf_invalid"},
        )
    try:
        principal, key_id = await login(auth_of(request), api_key)
    except AuthenticationError as exc:
        await audit_refusal(request, status=401, code=exc.code, reason=exc.details.get("reason"))
        return _login_page(request, error=exc.code, status_code=401)
    cookie, _ = await sessions_of(request).create(principal, key_id)
    await _audit(request, principal, "ui.login", {"key_id": key_id})
    settings = request.app.state.services.settings.ui
    secure = (
        settings.cookie_secure
        if settings.cookie_secure is not None
        else (request.url.scheme == "https")
    )
    response = RedirectResponse("/ui/runs", status_code=303)
    response.delete_cookie(LOGIN_COOKIE, path="/ui/login")
    response.set_cookie(COOKIE_NAME, cookie, max_age=settings.session_ttl_seconds, path="/ui",
                        httponly=True, samesite="strict", secure=secure)  # fmt: skip
    return response


@router.post("/ui/logout")
async def logout(request: Request, user: Acting) -> Response:
    """End the session and go back to the login form."""
    await sessions_of(request).delete(request.cookies.get(COOKIE_NAME))
    await _audit(request, user.session.principal, "ui.logout", {"key_id": user.session.key_id})
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/ui")
    return response


__all__ = ["router"]
