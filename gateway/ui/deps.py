"""FastAPI dependencies of the dashboard: the logged-in user, and actions (user + CSRF)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.responses import Response
from starlette.requests import Request

from gateway.auth import audit_refusal, should_audit
from gateway.errors import status_for
from gateway.ui.render import render
from gateway.ui.session import UiUser, check_csrf, current_user
from orchestrator.auth import Permission
from orchestrator.errors import JobNotVisibleError, OrchestratorError, PermissionDeniedError


async def acting_user(request: Request, user: Annotated[UiUser, Depends(current_user)]) -> UiUser:
    """The user of a mutating request, once its CSRF token was checked.

    Raises:
        LoginRequired: No session. CsrfError: 403 ``csrf_invalid``.
    """
    await check_csrf(request, user)
    return user


async def error_page(
    request: Request, user: UiUser | None, exc: OrchestratorError, back: str
) -> Response:
    """The page of a failed action: its status and stable code (``data-error-code``), audited
    as the API's error handler audits (refusals, and failed mutations)."""
    status = status_for(exc)
    if should_audit(request, exc, status):
        reason = exc.details.get("reason") or (
            "job_not_visible" if isinstance(exc, JobNotVisibleError) else None
        )
        await audit_refusal(request, status=status, code=exc.code, reason=reason)
    return render(request, "error.html", user, status_code=status, code=exc.code,
                  message=exc.message, details=exc.details, back=back)  # fmt: skip


def need(user: UiUser, permission: Permission) -> None:
    """Refuse what the user's role does not grant (the same table as the API).

    Raises:
        PermissionDeniedError: 403 ``forbidden``.
    """
    if not user.can(permission):
        raise PermissionDeniedError(
            f"role {user.role!r} may not {permission.value}",
            details={"permission": permission.value, "role": user.role},
        )


User = Annotated[UiUser, Depends(current_user)]
"""A page's user (redirects to the login form without a session)."""

Acting = Annotated[UiUser, Depends(acting_user)]
"""An action's user (CSRF checked)."""

__all__ = ["Acting", "User", "acting_user", "error_page", "need"]
