"""JSON logs: correlation fields (job, step, attempt, trace, span, request) and redaction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.config import Settings
from orchestrator.logs import REQUEST_ID, Redactor, configure_logging
from orchestrator.telemetry import setup_telemetry


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON logging into a buffer; structlog and the root logger are restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging("INFO", json=True, redact_fields=["customer_email"], stream=buffer)
    try:
        yield buffer
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        root.handlers[:] = handlers
        root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_step_log_line_carries_job_step_attempt_trace_span_and_request(
    log_lines: io.StringIO,
) -> None:
    shutdown = setup_telemetry(Settings(), "logs-test", span_exporter=InMemorySpanExporter(),
                               set_global=False)
    from orchestrator.telemetry import current

    tel = current()
    span = tel.start_span("step x")
    token = tel.activate(span)
    request = REQUEST_ID.set("req-42")
    structlog.contextvars.bind_contextvars(job_id="job-7", step="x", attempt=2)
    try:
        structlog.get_logger("test.logs.step").info("step says hello")
        logging.getLogger("test.logs.stdlib").warning("a stdlib line")
    finally:
        REQUEST_ID.reset(request)
        tel.deactivate(token)
        shutdown()

    structured, stdlib = lines(log_lines)
    ctx = span.get_span_context()
    expected = {
        "job_id": "job-7", "step": "x", "attempt": 2, "request_id": "req-42",
        "trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x"),
    }  # fmt: skip
    assert structured["event"] == "step says hello" and structured["level"] == "info"
    assert expected.items() <= structured.items()
    assert stdlib["event"] == "a stdlib line" and expected.items() <= stdlib.items()


def test_a_line_outside_any_span_or_request_has_no_correlation_fields(
    log_lines: io.StringIO,
) -> None:
    structlog.get_logger("test.logs.plain").info("plain")

    (line,) = lines(log_lines)
    assert not {"trace_id", "span_id", "request_id", "job_id"} & set(line)


def test_secrets_and_configured_fields_are_redacted_at_any_depth(log_lines: io.StringIO) -> None:
    structlog.get_logger("test.logs.secret").info(
        "connecting",
        password="hunter2",
        headers={"Authorization": "Bearer abc", "X-Api-Key": "k", "accept": "json"},
        customer_email="a@b.c",
        url="redis://user:pw@redis:6379/0",
        input_tokens=120,
        items=[{"client_secret": "s"}],
    )

    (line,) = lines(log_lines)
    assert line["password"] == "***"
    assert line["headers"] == {"Authorization": "***", "X-Api-Key": "***", "accept": "json"}
    assert line["customer_email"] == "***"
    assert line["url"] == "redis://user:***@redis:6379/0"
    assert line["input_tokens"] == 120
    assert line["items"] == [{"client_secret": "***"}]
    assert "hunter2" not in json.dumps(line)


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True), ("DB_PASSWORD", True), ("x-api-key", True), ("access_token", True),
        ("authorization", True), ("set-cookie", True), ("input_tokens", False),
        ("max_tokens", False), ("tokenizer", False), ("step", False), ("trace_id", False),
    ],
)  # fmt: skip
def test_which_keys_count_as_secret(key: str, secret: bool) -> None:
    assert Redactor().secret(key) is secret


def test_lines_below_the_level_are_dropped_for_structlog_and_stdlib(log_lines: io.StringIO) -> None:
    structlog.get_logger("test.logs.level").debug("not shown")
    logging.getLogger("test.logs.level").debug("not shown either")
    structlog.get_logger("test.logs.level").warning("shown", n=1)

    (line,) = lines(log_lines)
    assert line["event"] == "shown" and line["level"] == "warning"
    assert line["logger"] == "test.logs.level" and line["n"] == 1


def test_an_exception_is_rendered_as_text_in_its_line(log_lines: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("test.logs.exc").exception("failed")

    (line,) = lines(log_lines)
    assert line["level"] == "error" and "ValueError: boom" in line["exception"]


def test_an_unknown_level_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="LOUD"):
        configure_logging("LOUD")


def test_a_value_json_cannot_carry_is_written_not_raised(log_lines: io.StringIO) -> None:
    structlog.get_logger("test.logs.bytes").info("odd", raw=b"\xff\xfe", thing=object())

    (line,) = lines(log_lines)
    assert line["event"] == "odd" and "\\xff" in line["raw"] and "object" in line["thing"]


def test_a_logger_used_before_a_reconfiguration_follows_it(log_lines: io.StringIO) -> None:
    # orchestrator dev moves its logs to a file once a job's output takes the terminal; a
    # module's logger that structlog cached before must move too (stream, level, renderer).
    early = structlog.get_logger("test.logs.early")
    early.info("first")
    later = io.StringIO()
    configure_logging("WARNING", json=True, stream=later)
    early.info("dropped: below the new level")
    early.warning("second")

    assert [line["event"] for line in lines(log_lines)] == ["first"]
    assert [line["event"] for line in lines(later)] == ["second"]


def test_a_closed_stream_never_makes_a_log_call_raise(
    log_lines: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # As logging.Handler: a test's captured stderr closed under a process-wide configuration
    # made every later log call of the suite raise into the task that logged.
    log_lines.close()
    structlog.get_logger("test.logs.closed").warning("into a closed stream")

    assert "Logging error" in capsys.readouterr().err
