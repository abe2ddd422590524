"""DESIGN §2's seed example, copied verbatim (only the ``...`` bodies made trivial)."""

import importlib.util
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.dag import StepKind
from orchestrator.errors import InputValidationError
from sdk import StepContext, step, workflow


async def _words(text: str) -> AsyncIterator[str]:
    for word in text.split(" "):
        yield word


# fmt: off
@step(parallel=True)
async def fetch_context(doc_id: str) -> str:
    return f"context of {doc_id}"


@step(parallel=True)
def fetch_capiq(ticker: str) -> dict:              # sync steps run in a thread
    return {"ticker": ticker, "revenue": 42}


@step(depends_on=[fetch_context, fetch_capiq])
async def run_llm(context: str, financials: dict) -> str:
    return f"{context} | {financials['ticker']} earned {financials['revenue']}"


@step(depends_on=[run_llm], streams=True)
async def render_doc(llm_output: str, ctx: StepContext):
    async for chunk in _words(llm_output):
        yield chunk                                     # each chunk is streamed to clients


company_brief = workflow("company_brief", render_doc)  # the DAG: render_doc and all its ancestors
# fmt: on


def _context(step_name: str, inputs: dict[str, Any]) -> StepContext:
    return StepContext(
        job_id="job-1", step=step_name, attempt=1, inputs=inputs, emit=lambda _: None, logger=None
    )


async def _run_by_bindings(inputs: dict[str, Any]) -> dict[str, Any]:
    """Call each step in topological order with the keyword arguments its binding names."""
    outputs: dict[str, Any] = {}
    for name, s in company_brief.steps.items():
        binding = company_brief.bindings[name]
        kwargs: dict[str, Any] = {p: outputs[up] for p, up in binding.upstream_params.items()}
        kwargs.update({p.name: inputs[p.name] for p in binding.input_params})
        kwargs.update({p: _context(name, inputs) for p in binding.context_params})
        if s.kind is StepKind.ASYNC:
            outputs[name] = await s(**kwargs)
        elif s.kind is StepKind.SYNC:
            outputs[name] = s(**kwargs)
        elif s.kind is StepKind.ASYNC_GEN:
            outputs[name] = [chunk async for chunk in s(**kwargs)]
        else:
            outputs[name] = list(s(**kwargs))
    return outputs


def test_the_seed_example_builds_a_workflow_of_four_steps() -> None:
    assert company_brief.name == "company_brief"
    assert set(company_brief.steps) == {"fetch_context", "fetch_capiq", "run_llm", "render_doc"}


def test_the_seed_example_binds_upstream_outputs_to_parameters_in_depends_on_order() -> None:
    assert company_brief.bindings["run_llm"].upstream_params == {
        "context": "fetch_context",
        "financials": "fetch_capiq",
    }
    assert company_brief.bindings["render_doc"].upstream_params == {"llm_output": "run_llm"}


def test_the_seed_example_gives_the_step_context_to_the_parameter_annotated_with_it() -> None:
    render = company_brief.bindings["render_doc"]
    assert render.context_params == ["ctx"]
    assert render.input_params == []


def test_the_seed_example_takes_doc_id_and_ticker_from_the_job_inputs() -> None:
    assert [p.name for p in company_brief.bindings["fetch_context"].input_params] == ["doc_id"]
    assert [p.name for p in company_brief.bindings["fetch_capiq"].input_params] == ["ticker"]
    assert company_brief.bindings["run_llm"].input_params == []
    assert set(company_brief.input_names) == {"doc_id", "ticker"}


def test_the_seed_example_detects_each_step_kind_and_option() -> None:
    kinds = {name: s.kind for name, s in company_brief.steps.items()}
    assert kinds == {
        "fetch_context": StepKind.ASYNC,
        "fetch_capiq": StepKind.SYNC,
        "run_llm": StepKind.ASYNC,
        "render_doc": StepKind.ASYNC_GEN,
    }
    assert company_brief.steps["fetch_context"].parallel is True
    assert company_brief.steps["fetch_capiq"].parallel is True
    assert company_brief.steps["run_llm"].parallel is False
    assert company_brief.steps["render_doc"].streams is True


def test_the_seed_example_has_render_doc_as_its_only_sink() -> None:
    assert company_brief.sinks == ["render_doc"]


def test_the_seed_example_orders_dependencies_before_their_dependents() -> None:
    order = list(company_brief.steps)
    assert order.index("fetch_context") < order.index("run_llm")
    assert order.index("fetch_capiq") < order.index("run_llm")
    assert order.index("run_llm") < order.index("render_doc")


async def test_the_seed_example_runs_when_each_step_is_called_as_its_binding_says() -> None:
    inputs = company_brief.validate_inputs({"doc_id": "doc-7", "ticker": "ACME"})

    outputs = await _run_by_bindings(inputs)

    assert outputs["run_llm"] == "context of doc-7 | ACME earned 42"
    assert "".join(outputs["render_doc"]) == "context of doc-7 | ACME earned 42".replace(" ", "")


def test_valid_inputs_are_returned_as_json_values() -> None:
    assert company_brief.validate_inputs({"doc_id": "d", "ticker": "T"}) == {
        "doc_id": "d",
        "ticker": "T",
    }


def test_an_ill_typed_input_raises_input_validation_error_naming_it() -> None:
    with pytest.raises(InputValidationError) as info:
        company_brief.validate_inputs({"doc_id": 123, "ticker": "ACME"})

    assert info.value.code == "inputs_invalid"
    assert info.value.details["workflow"] == "company_brief"
    assert [e["parameter"] for e in info.value.details["errors"]] == ["doc_id"]
    assert info.value.details["errors"][0]["type"] == "string_type"


def test_a_missing_input_raises_input_validation_error_naming_it() -> None:
    with pytest.raises(InputValidationError) as info:
        company_brief.validate_inputs({"doc_id": "d"})

    assert info.value.code == "inputs_invalid"
    assert [e["parameter"] for e in info.value.details["errors"]] == ["ticker"]
    assert info.value.details["errors"][0]["type"] == "missing"


def test_an_unknown_extra_input_raises_input_validation_error_naming_it() -> None:
    with pytest.raises(InputValidationError) as info:
        company_brief.validate_inputs({"doc_id": "d", "ticker": "T", "sector": "energy"})

    assert info.value.code == "inputs_invalid"
    assert [e["parameter"] for e in info.value.details["errors"]] == ["sector"]
    assert info.value.details["errors"][0]["type"] == "extra_forbidden"


def test_no_inputs_at_all_names_every_required_input() -> None:
    with pytest.raises(InputValidationError) as info:
        company_brief.validate_inputs(None)

    assert sorted(e["parameter"] for e in info.value.details["errors"]) == ["doc_id", "ticker"]


def test_describe_lists_nodes_with_their_options() -> None:
    described = company_brief.describe()

    nodes = {n["name"]: n for n in described["nodes"]}
    assert set(nodes) == {"fetch_context", "fetch_capiq", "run_llm", "render_doc"}
    assert nodes["render_doc"]["streams"] is True
    assert nodes["render_doc"]["kind"] == "async_gen"
    assert nodes["fetch_capiq"]["kind"] == "sync"
    assert nodes["fetch_capiq"]["parallel"] is True
    assert set(nodes["run_llm"]) >= {
        "parallel",
        "streams",
        "retries",
        "retry_backoff_seconds",
        "timeout_seconds",
        "cache_ttl_seconds",
        "kind",
    }


def test_describe_lists_one_edge_per_dependency() -> None:
    edges = {(e["from"], e["to"]) for e in company_brief.describe()["edges"]}

    assert edges == {
        ("fetch_context", "run_llm"),
        ("fetch_capiq", "run_llm"),
        ("run_llm", "render_doc"),
    }


def test_describe_gives_the_inputs_as_a_json_schema() -> None:
    described = company_brief.describe()

    schema = described["inputs"]
    assert schema["type"] == "object"
    assert schema["properties"]["doc_id"]["type"] == "string"
    assert schema["properties"]["ticker"]["type"] == "string"
    assert sorted(schema["required"]) == ["doc_id", "ticker"]
    assert schema["additionalProperties"] is False
    assert described["sinks"] == ["render_doc"]
    assert described["name"] == "company_brief"
    assert isinstance(described["version"], str) and described["version"]


def test_the_public_names_import_from_sdk() -> None:
    import orchestrator.errors
    from sdk import DagError, Retry, StepContext, step, workflow

    assert DagError is orchestrator.errors.DagError
    assert Retry is orchestrator.errors.Retry
    assert StepContext is not None and callable(step) and callable(workflow)


def test_sdk_declares_its_public_surface_in_all() -> None:
    import sdk

    assert {"step", "workflow", "StepContext", "Retry", "DagError", "Client"} <= set(sdk.__all__)


def test_an_unknown_sdk_attribute_raises_attribute_error() -> None:
    import sdk

    with pytest.raises(AttributeError):
        _ = sdk.NoSuchName  # type: ignore[attr-defined]


def test_client_resolves_lazily_from_sdk() -> None:
    if importlib.util.find_spec("sdk._client") is None:
        pytest.skip("sdk/_client.py does not exist yet, so sdk.Client cannot resolve")
    from sdk import Client

    assert isinstance(Client, type)


def test_importing_sdk_does_not_import_the_http_client() -> None:
    code = "import sys, sdk; print('httpx' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "False"
