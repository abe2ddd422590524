"""The Elastic APM pipeline: the classic ``elastic-apm`` agent through its OpenTelemetry bridge.

Facts this follows (``shared/notes/keda-arq-k8s.md`` §7, verified against elastic-apm 6.26):

- The bridge's tracer is not reachable through ``opentelemetry.trace.get_tracer()``; spans are
  made with :attr:`ElasticTelemetry.tracer`.
- The bridge keeps the current span in the agent's own execution context, which the OpenTelemetry
  context API does not see: a bare ``propagate.inject(carrier)`` yields nothing, so
  :meth:`ElasticTelemetry.inject` passes the span explicitly.
- A span started with a remote parent and no active transaction becomes a Transaction; one
  started while a transaction is active becomes a Span of it.
- No span events, links or processors; ``chunk_events`` has no effect here.
- ``Client.close()`` flushes: one-job pods must call :meth:`ElasticTelemetry.shutdown`.
- Start times are epoch seconds (the bridge passes them to the agent as they are); spans end
  "now" (the bridge subtracts nanoseconds from seconds for an explicit end time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer

from orchestrator.config import TelemetrySettings
from orchestrator.errors import ConfigError
from orchestrator.telemetry.base import Attributes, TelemetryKind


class ElasticTelemetry:
    """Spans through the Elastic APM agent's OpenTelemetry bridge.

    Args:
        client: An ``elasticapm.Client``; this pipeline closes it on :meth:`shutdown`.
    """

    kind: TelemetryKind = "elastic-apm"

    def __init__(self, client: Any) -> None:
        from elasticapm.contrib.opentelemetry.trace import Tracer as BridgeTracer
        from elasticapm.traces import execution_context

        self.client = client
        self.chunk_events = False  # the bridge has no span events
        self._ctx = execution_context
        self._tracer: Tracer = BridgeTracer("agent-orchestrator", elasticapm_client=client)

    @property
    def tracer(self) -> Tracer:
        """The bridge's tracer."""
        return self._tracer

    def start_span(
        self,
        name: str,
        *,
        parent: Span | None = None,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes | None = None,
        start_time: float | None = None,
    ) -> Span:
        """Start a Transaction (remote or no parent) or a Span of the active transaction."""
        if parent is not None and self._ctx.get_transaction() is None:
            # No transaction is active in this task: name the parent explicitly, so that the
            # span becomes a child Transaction in the parent's trace.
            context = trace.set_span_in_context(parent)
        elif parent is not None:
            context = None  # the active transaction is the parent's; the bridge nests under it
        # The bridge hands start_time to the agent unchanged, and the agent counts in seconds.
        return self._tracer.start_span(
            name, context=context, kind=kind, attributes=attributes,
            start_time=start_time,  # type: ignore[arg-type]
        )

    def end_span(self, span: Span, end_time: float | None = None) -> None:
        """End ``span`` now (the bridge mixes units for an explicit end time).

        The agent ends "the current transaction", so a Transaction is made current for the
        call, whatever task ends it.
        """
        from elasticapm.traces import Transaction

        elastic = getattr(span, "elastic_span", None)
        if not isinstance(elastic, Transaction):
            span.end()
            return
        previous = self._ctx.get_transaction()
        self._ctx.set_transaction(elastic)
        try:
            span.end()
        finally:
            self._ctx.set_transaction(previous if previous is not elastic else None)

    def activate(self, span: Span) -> object:
        """Make the agent's transaction or span behind ``span`` current in this task."""
        from elasticapm.traces import Transaction

        previous = (self._ctx.get_transaction(), self._ctx.get_span())
        elastic = getattr(span, "elastic_span", None)
        if isinstance(elastic, Transaction):
            self._ctx.set_transaction(elastic)
        elif elastic is not None:
            self._ctx.set_span(elastic)
        return previous

    def deactivate(self, token: object) -> None:
        """Restore the transaction and span that were current before :meth:`activate`."""
        transaction, span = cast(tuple[Any, Any], token)
        self._ctx.set_transaction(transaction)
        while self._ctx.get_span() is not None and self._ctx.get_span() is not span:
            self._ctx.unset_span()

    def inject(self, span: Span) -> dict[str, str]:
        """W3C context of ``span``, with the span passed explicitly (the bridge needs it)."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        return carrier

    def extract(self, carrier: Mapping[str, str] | None) -> Context:
        """The remote parent named by ``carrier``."""
        return propagate.extract(dict(carrier or {}))

    def current_ids(self) -> tuple[str, str] | None:
        """Trace id and span (or transaction) id from the agent's execution context."""
        transaction = self._ctx.get_transaction()
        if transaction is None:
            return None
        span = self._ctx.get_span()
        return transaction.trace_parent.trace_id, (span or transaction).id

    def flush(self, timeout_seconds: float = 5.0) -> bool:
        """Ask the agent's transport to send what it holds (best effort, not bounded)."""
        transport = getattr(self.client, "_transport", None)
        if transport is not None and hasattr(transport, "flush"):
            transport.flush()
        return True

    def shutdown(self) -> None:
        """Close the agent: flushes its queue and stops its threads."""
        self.client.close()


def build_elastic_pipeline(settings: TelemetrySettings, service_name: str) -> ElasticTelemetry:
    """Create the Elastic agent's client from settings (``ELASTIC_APM_*`` env vars fill the rest).

    Raises:
        ConfigError: ``elastic-apm`` (with its ``opentelemetry`` extra) is not installed.
    """
    try:
        import elasticapm
        import elasticapm.contrib.opentelemetry
    except ImportError as exc:
        raise ConfigError(
            "ORCH_TELEMETRY__EXPORTER=elastic-apm needs pip install 'elastic-apm[opentelemetry]' "
            f"({exc.name} is missing)",
            details={"setting": "ORCH_TELEMETRY__EXPORTER", "missing": exc.name},
        ) from exc
    config: dict[str, Any] = {
        "SERVICE_NAME": settings.service_name or service_name,
        "TRANSACTION_SAMPLE_RATE": settings.sample_ratio,
    }
    for key, value in (
        ("SERVER_URL", settings.elastic_apm_server_url),
        ("ENVIRONMENT", settings.environment),
        ("SECRET_TOKEN", settings.elastic_apm_secret_token),
        ("API_KEY", settings.elastic_apm_api_key),
    ):
        if value is not None:
            config[key] = value if isinstance(value, str) else value.get_secret_value()
    return ElasticTelemetry(elasticapm.Client(config))


__all__ = ["ElasticTelemetry", "build_elastic_pipeline"]
