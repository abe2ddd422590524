"""The flows of plan envelopes: what is not covered end to end (tests/e2e/test_agent_flows.py)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from orchestrator.agents.flows import ResolvedFlow, _traceparent


def test_the_flows_job_is_traced_as_a_child_of_the_agents_step() -> None:
    assert _traceparent() is None  # no span: the flow's job starts a trace of its own
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("step run_agent") as span:
        carrier = _traceparent()
    sc = span.get_span_context()
    flags = f"{int(sc.trace_flags):02x}"
    assert carrier == {"traceparent": f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{flags}"}


def test_a_resolved_flow_survives_its_durable_record() -> None:
    flow = ResolvedFlow("flow:echo", '{"steps":[]}', 4, proposed=False)
    assert ResolvedFlow.from_json(flow.to_json()) == flow
