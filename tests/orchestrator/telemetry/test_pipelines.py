"""Tracing pipelines chosen by ``ORCH_TELEMETRY__EXPORTER``, and W3C propagation through them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.trace import SpanKind

from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.telemetry import current, setup_telemetry
from orchestrator.telemetry.memory import in_memory_pipeline
from orchestrator.telemetry.otel import parse_headers
from tests.support.otlp import ReceivedSpan, decode, otlp_receiver


@pytest.fixture
def telemetry_settings() -> Iterator[Any]:
    """Build settings with a telemetry section; every pipeline set up is shut down after."""
    shutdowns: list[Any] = []

    def build(**telemetry: Any) -> Any:
        def setup(service: str = "svc") -> Any:
            shutdown = setup_telemetry(
                Settings(telemetry=telemetry), service, set_global=False
            )
            shutdowns.append(shutdown)
            return current()

        return setup

    yield build
    for shutdown in reversed(shutdowns):
        shutdown()


def test_none_records_nothing_and_injects_no_context(telemetry_settings: Any) -> None:
    tel = telemetry_settings(exporter="none")()

    span = tel.start_span("x")

    assert tel.kind == "none"
    assert not span.is_recording()
    assert tel.inject(span) == {}


def test_none_still_continues_a_remote_trace() -> None:
    producer, _ = in_memory_pipeline()
    parent = producer.start_span("enqueue", kind=SpanKind.PRODUCER)
    carrier = producer.inject(parent)
    tel = current()  # no set-up: the no-op pipeline

    child = tel.start_span("job", context=tel.extract(carrier))
    token = tel.activate(child)
    try:
        ids = tel.current_ids()
    finally:
        tel.deactivate(token)

    assert ids is not None and ids[0] == carrier["traceparent"].split("-")[1]


def test_the_carrier_makes_the_remote_span_the_parent() -> None:
    tel, exporter = in_memory_pipeline()
    producer = tel.start_span("enqueue", kind=SpanKind.PRODUCER)
    carrier = tel.inject(producer)
    producer.end()

    consumer = tel.start_span("job", context=tel.extract(carrier), kind=SpanKind.CONSUMER)
    tel.end_span(consumer, 1_700_000_000.5)

    enqueue, job = exporter.get_finished_spans()
    assert carrier["traceparent"].startswith("00-")
    assert job.parent is not None and job.parent.span_id == enqueue.context.span_id
    assert job.context.trace_id == enqueue.context.trace_id
    assert job.end_time == 1_700_000_000_500_000_000


def test_setup_makes_the_pipeline_current_and_shutdown_restores_the_no_op(
    telemetry_settings: Any,
) -> None:
    before = current()
    shutdown = setup_telemetry(Settings(telemetry={"exporter": "console"}), "svc", set_global=False)
    try:
        assert current().kind == "otel" and current() is not before
    finally:
        shutdown()
    assert current().kind == "none"


def test_console_prints_finished_spans(
    telemetry_settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    tel = telemetry_settings(exporter="console")()

    tel.end_span(tel.start_span("printed-span"))

    assert '"name": "printed-span"' in capsys.readouterr().out


def test_otlp_over_http_reaches_a_collector_after_flush(telemetry_settings: Any) -> None:
    with otlp_receiver() as receiver:
        tel = telemetry_settings(
            exporter="otlp", otlp_protocol="http", otlp_endpoint=receiver.endpoint,
            service_name="orders", environment="test",
        )()

        span = tel.start_span("exported", attributes={"k": "v"})
        tel.end_span(span)
        assert tel.flush(5.0)

        (got,) = receiver.wait_for(lambda spans: len(spans) == 1)
    assert (got.service, got.name, got.attributes) == ("orders", "exported", {"k": "v"})


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.metadata: list[dict[str, str]] = []

    def Export(self, request: Any, context: Any) -> Any:
        self.spans.extend(decode(request.SerializeToString()))
        self.metadata.append(dict(context.invocation_metadata()))
        return trace_service_pb2.ExportTraceServiceResponse()


def test_otlp_over_grpc_reaches_a_collector_with_the_configured_headers(
    telemetry_settings: Any,
) -> None:
    collector = _Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        tel = telemetry_settings(
            exporter="otlp", otlp_protocol="grpc", otlp_endpoint=f"http://127.0.0.1:{port}",
            otlp_headers="Authorization=Bearer%20s3cret",
        )()
        tel.end_span(tel.start_span("over-grpc"))
        assert tel.flush(10.0)
    finally:
        server.stop(grace=None)

    assert [s.name for s in collector.spans] == ["over-grpc"]
    assert collector.metadata[0]["authorization"] == "Bearer s3cret"


def test_otlp_headers_are_parsed_like_the_otel_environment_variable() -> None:
    assert parse_headers("Authorization=ApiKey%20abc, x-tenant = t1,broken") == {
        "authorization": "ApiKey abc",
        "x-tenant": "t1",
    }


def test_a_missing_exporter_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)

    with pytest.raises(ConfigError) as caught:
        setup_telemetry(Settings(telemetry={"exporter": "otlp"}), "svc", set_global=False)

    assert caught.value.code == "config_invalid"
    assert caught.value.details["setting"] == "ORCH_TELEMETRY__EXPORTER"
    assert current().kind == "none"


def test_the_sample_ratio_drops_new_traces_but_keeps_sampled_parents(
    telemetry_settings: Any,
) -> None:
    parent_tel, _ = in_memory_pipeline()
    carrier = parent_tel.inject(parent_tel.start_span("enqueue"))
    tel = telemetry_settings(exporter="console", sample_ratio=0.0)()

    assert not tel.start_span("new root").is_recording()
    assert tel.start_span("job", context=tel.extract(carrier)).is_recording()
