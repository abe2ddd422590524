"""Jinja2 templates of the dashboard: one environment per process, autoescaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from gateway.ui.layout import node_id
from gateway.ui.session import CSRF_FIELD, UiUser

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _json(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, default=str, ensure_ascii=False)


def _when(value: datetime | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.1f} s"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment (HTML autoescaped; templates ship in the wheel)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = _json
    env.filters["when"] = _when
    env.filters["ms"] = _ms
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    env.globals["step_dom"] = node_id
    return env


def render(
    request: Request,
    template: str,
    user: UiUser | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page (or fragment) with the user, its CSRF token and the request in context."""
    html = environment().get_template(template).render(
        request=request, user=user, csrf=user.session.csrf if user else "",
        grafana_url=request.app.state.services.settings.ui.grafana_url, **context,
    )  # fmt: skip
    return HTMLResponse(html, status_code=status_code)


def fragment(template: str, macro: str, *args: Any, **kwargs: Any) -> str:
    """Call one macro of ``template`` (the live stream's out-of-band fragments)."""
    module = environment().get_template(template).module
    return str(getattr(module, macro)(*args, **kwargs))


__all__ = ["STATIC", "TEMPLATES", "environment", "fragment", "render"]
