"""Building :class:`Settings` at a command's start, with errors that say what to fix.

- An ``ORCH_*`` variable that is no setting (a typo: ``ORCH_REDIS_URL``) is warned about with the
  closest valid name (difflib), once, on stderr; the command goes on.
- An invalid value is one :class:`ConfigError` naming the variable and what pydantic expected.
- A database URL without its async driver (``postgresql://``) names the URL to use instead.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping

import typer
from pydantic import BaseModel, ValidationError

from orchestrator.config import Settings, mask_url
from orchestrator.errors import ConfigError

PREFIX = "ORCH_"
NOT_SETTINGS = frozenset({"ORCH_DEBUG", "ORCH_TEST_REDIS_URL", "ORCH_TEST_DATABASE_URL"})
"""``ORCH_*`` variables read by something other than :class:`Settings` (the CLI, the tests)."""

DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}
"""Database URL schemes without an async driver, and the scheme to use instead."""


def setting_names(model: type[BaseModel] = Settings, prefix: str = PREFIX) -> Iterator[str]:
    """Every environment variable :class:`Settings` reads (``ORCH_SECTION__FIELD``), upper case."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_names(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``ORCH_*`` variables that are no setting, each with the closest valid name (or None)."""
    valid = sorted(set(setting_names()) | NOT_SETTINGS)
    out = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in valid:
            continue
        close = difflib.get_close_matches(upper, valid, n=1, cutoff=0.6)
        out.append((name, close[0] if close else None))
    return out


def env_name(location: tuple[int | str, ...]) -> str:
    """The variable of a validation error's location: ``("lease", "ttl_seconds")`` →
    ``ORCH_LEASE__TTL_SECONDS``."""
    return PREFIX + "__".join(str(p).upper() for p in location if not isinstance(p, int))


def check_driver(setting: str, url: str | None) -> None:
    """Refuse a database URL whose scheme has no async driver, naming the one to use.

    Raises:
        ConfigError: ``config_invalid`` with the corrected URL's scheme.
    """
    if not url or "://" not in url:
        return
    scheme = url.split("://", 1)[0].lower()
    if scheme in DRIVERS:
        raise ConfigError(
            f"{setting} starts with {scheme}:// but needs an async driver: "
            f"use {DRIVERS[scheme]}://{mask_url(url).split('://', 1)[1]}",
            details={"setting": setting, "expected_scheme": DRIVERS[scheme]},
        )


def load_settings(*, warn: bool = True) -> Settings:
    """Build the process's settings from the environment (and ``.env``).

    Raises:
        ConfigError: An invalid value (naming the variable), or a URL without its driver.
    """
    if warn:
        for name, close in unknown_variables(os.environ):
            typer.secho(
                f"warning: {name} is not a setting"
                + (f"; did you mean {close}?" if close else " (see `orchestrator config`)"),
                fg=typer.colors.YELLOW,
                err=True,
            )
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = env_name(tuple(first["loc"]))
        value = os.environ.get(name, first.get("input"))
        raise ConfigError(
            f"invalid setting {name}={value!r}: {first['msg']}",
            details={"setting": name, "errors": len(exc.errors())},
        ) from None
    check_driver("ORCH_DATABASE__URL", settings.database.url)
    return settings


__all__ = ["check_driver", "env_name", "load_settings", "setting_names", "unknown_variables"]
