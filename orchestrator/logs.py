"""Logging: JSON lines through structlog on stdout (or readable lines on a terminal).

Every line carries what correlates it (DESIGN §9): ``job_id``, ``step``, ``attempt`` (bound as
structlog context variables by the worker's log-context hook), ``trace_id``/``span_id`` of the
current span (:func:`add_trace_context`) and the HTTP ``request_id`` (:data:`REQUEST_ID`, set by
the gateway). Values of secret-looking keys are replaced by ``***`` (:class:`Redactor`).
"""

from __future__ import annotations

import contextlib
import json as json_module
import logging
import sys
import threading
from collections.abc import Iterable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TextIO

import pydantic_core
import structlog

from orchestrator.config import mask_url
from orchestrator.telemetry import current as current_telemetry

REQUEST_ID: ContextVar[str | None] = ContextVar("orchestrator_request_id", default=None)
"""The id of the HTTP request being served; the gateway's request-id middleware sets it."""

DEFAULT_REDACTED = frozenset(
    {"password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie",
     "set_cookie", "private_key", "credentials", "access_token", "refresh_token", "id_token",
     "client_secret", "code_verifier", "encryption_key"}
)  # fmt: skip
"""Keys whose values never reach a log line (also with a prefix: ``db_password``, ``x_api_key``)."""

MASK = "***"
_MAX_DEPTH = 6


def add_trace_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` of the current span, if any."""
    ids = current_telemetry().current_ids()
    if ids is not None:
        event_dict.setdefault("trace_id", ids[0])
        event_dict.setdefault("span_id", ids[1])
    return event_dict


def add_request_id(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current HTTP request's id, if any."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


_KNOWN_KEYS_MAX = 4096
"""Keys whose verdict a :class:`Redactor` remembers (log keys are a small, fixed set; nested
dicts of user data could bring many more, which are then matched each time)."""


class Redactor:
    """structlog processor replacing the values of secret-looking keys with ``***``.

    A key matches when, lower-cased with ``-`` read as ``_``, it equals a listed name or ends with
    ``_<name>`` (``db_password``, ``x-api-key``; not ``input_tokens``). Nested dicts and lists are
    searched a few levels deep; URLs with a password keep their user and host only.

    Args:
        extra: Names to redact beside :data:`DEFAULT_REDACTED` (``ORCH_LOG__REDACT_FIELDS``).
    """

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.names = DEFAULT_REDACTED | {_norm(n) for n in extra if n.strip()}
        self._known: dict[str, bool] = {}

    def secret(self, key: str) -> bool:
        """Whether values under ``key`` are redacted (remembered per key: a log line's keys
        repeat, and matching one against every name was most of this processor's time)."""
        known = self._known.get(key)
        if known is None:
            k = _norm(key)
            known = k in self.names or any(k.endswith("_" + n) for n in self.names)
            if len(self._known) < _KNOWN_KEYS_MAX:
                self._known[key] = known
        return known

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            if key != "event":
                event_dict[key] = self._clean(key, event_dict[key], 0)
        return event_dict

    def _clean(self, key: str, value: Any, depth: int) -> Any:
        if self.secret(key):
            return MASK
        if isinstance(value, str):
            return mask_url(value) if "://" in value and "@" in value else value
        if depth >= _MAX_DEPTH:
            return value
        if isinstance(value, dict):
            return {k: self._clean(str(k), v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean("", v, depth + 1) for v in value]
        return value


def _norm(key: str) -> str:
    return key.strip().lower().replace("-", "_")


@dataclass(slots=True)
class _Sink:
    """What the last :func:`configure_logging` set, read on every call: a logger that structlog
    cached before a reconfiguration (a module's logger used at start; ``orchestrator dev``
    moves its logs to a file once the job's output takes the terminal) follows it."""

    level: int = logging.INFO
    processors: tuple[structlog.types.Processor, ...] = ()
    stream: TextIO = sys.stderr
    lock: Any = field(default_factory=threading.RLock)


_SINK = _Sink()

_METHOD_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                  "warn": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL,
                  "fatal": logging.CRITICAL}  # fmt: skip
"""Level of each method of structlog's bound loggers (``exception`` calls ``error``)."""


def _configured(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> Any:
    """structlog's one processor: drop a call below the configured level, else run the
    configured processors (the last one renders the line)."""
    if _METHOD_LEVELS.get(method_name, logging.INFO) < _SINK.level:
        raise structlog.DropEvent
    result: Any = event_dict
    for processor in _SINK.processors:
        result = processor(logger, method_name, result)
    return result


class LineLogger:
    """structlog's logger for its own lines: each rendered line written whole to the configured
    stream and flushed, under the stdlib handler's lock (a structlog line and a library's stdlib
    line never interleave).

    structlog's documented fast path ("Performance" in its docs): a structlog call is rendered
    and written without building a stdlib ``LogRecord`` (nor walking the stack for its caller),
    which was most of a log line's cost: 30 -> 10 µs a line in a micro-benchmark, and 5-7% of
    the gateway's submit rate and the workers' drain rate (issue 19).

    Args:
        name: The logger's name (``structlog.get_logger(name)``), read by ``add_logger_name``.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name

    def msg(self, message: str) -> None:
        """Write ``message`` and a newline, then flush; never raise (as ``logging.Handler``:
        a stream closed or gone is reported on ``sys.stderr``, the caller goes on)."""
        sink = _SINK
        try:
            with sink.lock:
                sink.stream.write(message + "\n")
                sink.stream.flush()
        except Exception as exc:
            _report_write_error(exc)

    log = debug = info = warn = warning = error = err = critical = exception = fatal = msg


def _report_write_error(exc: Exception) -> None:
    if not logging.raiseExceptions:
        return
    with contextlib.suppress(Exception):  # stderr itself may be closed: then say nothing
        sys.stderr.write(f"--- Logging error --- {type(exc).__name__}: {exc}\n")


def _line_logger(name: str = "", *args: Any) -> LineLogger:
    return LineLogger(name)


def _json_line(obj: Any, **kw: Any) -> str:
    """JSONRenderer's serializer: pydantic-core's ``to_json`` (as :mod:`orchestrator.serialization`),
    with structlog's ``default`` (``repr``) for the types it cannot carry; the stdlib's ``json``
    for what it refuses outright (bytes that are not UTF-8), so that a log call never raises."""
    try:
        return pydantic_core.to_json(obj, fallback=kw.get("default")).decode()
    except pydantic_core.PydanticSerializationError:
        return json_module.dumps(obj, **kw)


def configure_logging(
    level: str = "INFO",
    *,
    json: bool | None = None,
    redact_fields: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging to one renderer and one stream.

    structlog's loggers render and write their lines themselves (:class:`LineLogger`; a call
    below the level is dropped before any other processor runs); stdlib records (libraries:
    uvicorn, arq, httpx...) go through a handler whose ``ProcessorFormatter`` runs the same
    processors. Both share the handler's lock. Calling it again reconfigures every logger,
    those already used included.

    Args:
        level: Minimum level name (``DEBUG``, ``INFO``, ...).
        json: JSON lines (production); ``None`` picks JSON unless ``stream`` is a terminal.
        redact_fields: Keys to redact beside the built-in ones (``ORCH_LOG__REDACT_FIELDS``).
        stream: Where lines go: stdout for the gateway and workers (DESIGN §9), stderr (the
            default) for commands whose stdout is their output.

    Raises:
        ValueError: ``level`` is not a level name.
    """
    out = stream if stream is not None else sys.stderr
    as_json = (not out.isatty()) if json is None else json
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_request_id,
        add_trace_context,
        Redactor(redact_fields),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if as_json else structlog.dev.ConsoleRenderer()
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    _SINK.processors = (*shared, structlog.processors.format_exc_info, renderer)
    _SINK.stream = out
    _SINK.lock = handler.lock
    _SINK.level = numeric
    structlog.configure(
        processors=[_configured],  # cached by loggers; what it runs is read from _SINK
        logger_factory=_line_logger,
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # httpx and authlib log token requests at DEBUG (authlib with the token response).
    for noisy in ("arq.worker", "uvicorn.access", "httpx", "httpx2", "mcp", "authlib", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


__all__ = [
    "DEFAULT_REDACTED",
    "REQUEST_ID",
    "LineLogger",
    "Redactor",
    "add_request_id",
    "add_trace_context",
    "configure_logging",
]
