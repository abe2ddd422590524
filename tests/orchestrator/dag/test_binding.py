"""Parameter binding (DESIGN §2), checked when ``workflow()`` is called."""

import inspect
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from orchestrator.dag import StepContext, step, workflow
from orchestrator.errors import DagError


class Report(BaseModel):
    title: str
    pages: int


def test_a_parameter_annotated_step_context_gets_the_context_wherever_it_is() -> None:
    @step
    def a() -> int:
        return 1

    @step(depends_on=[a])
    def b(ctx: StepContext, value: int, other_ctx: StepContext) -> int:
        return value

    binding = workflow("w", b).bindings["b"]

    assert binding.context_params == ["ctx", "other_ctx"]
    assert binding.upstream_params == {"value": "a"}
    assert binding.input_params == []


def test_upstream_outputs_fill_parameters_in_depends_on_order() -> None:
    @step
    def first() -> int:
        return 1

    @step
    def second() -> int:
        return 2

    @step(depends_on=[second, first])
    def use(x: int, y: int) -> int:
        return x - y

    assert workflow("w", use).bindings["use"].upstream_params == {"x": "second", "y": "first"}


def test_a_parameter_named_like_an_upstream_step_takes_its_output_even_when_it_is_not_first() -> (
    None
):
    @step
    def a() -> int:
        return 1

    @step
    def b() -> int:
        return 2

    @step(depends_on=[a, b])
    def c(x: int, b: int) -> int:
        return x + b

    assert workflow("w", c).bindings["c"].upstream_params == {"b": "b", "x": "a"}


def test_name_matching_wins_over_order_for_every_upstream_step() -> None:
    @step
    def a() -> int:
        return 1

    @step
    def b() -> int:
        return 2

    @step(depends_on=[a, b])
    def c(b: int, a: int) -> int:
        return a + b

    assert workflow("w", c).bindings["c"].upstream_params == {"a": "a", "b": "b"}


def test_parameters_left_after_upstream_outputs_are_job_inputs() -> None:
    @step
    def a() -> int:
        return 1

    @step(depends_on=[a])
    def b(value: int, doc_id: str, limit: int = 5) -> int:
        return value

    binding = workflow("w", b).bindings["b"]

    assert binding.upstream_params == {"value": "a"}
    assert [(p.name, p.annotation, p.default) for p in binding.input_params] == [
        ("doc_id", str, inspect.Parameter.empty),
        ("limit", int, 5),
    ]


def test_an_input_with_a_default_is_optional() -> None:
    @step
    def fetch(doc_id: str, limit: int = 5) -> int:
        return limit

    wf = workflow("w", fetch)

    assert wf.validate_inputs({"doc_id": "d"}) == {"doc_id": "d"}
    assert wf.validate_inputs({"doc_id": "d", "limit": 7}) == {"doc_id": "d", "limit": 7}
    assert wf.input_model.model_json_schema()["required"] == ["doc_id"]


def test_an_upstream_output_with_no_parameter_to_receive_it_is_a_dag_error() -> None:
    @step
    def a() -> int:
        return 1

    @step(depends_on=[a])
    def b() -> int:
        return 2

    with pytest.raises(DagError) as info:
        workflow("w", b)

    assert info.value.code == "dag_invalid"
    assert info.value.details["step"] == "b"
    assert info.value.details["upstream"] == "a"


def test_the_context_parameter_does_not_receive_an_upstream_output() -> None:
    @step
    def a() -> int:
        return 1

    @step(depends_on=[a])
    def b(ctx: StepContext) -> int:
        return 2

    with pytest.raises(DagError) as info:
        workflow("w", b)

    assert info.value.details["step"] == "b"
    assert info.value.details["upstream"] == "a"


def test_a_second_upstream_output_with_no_parameter_left_is_a_dag_error_naming_it() -> None:
    @step
    def a() -> int:
        return 1

    @step
    def b() -> int:
        return 2

    @step(depends_on=[a, b])
    def c(only: int) -> int:
        return only

    with pytest.raises(DagError) as info:
        workflow("w", c)

    assert info.value.details["step"] == "c"
    assert info.value.details["upstream"] == "b"


@pytest.mark.parametrize("parameter", ["args", "kwargs"])
def test_a_variadic_parameter_is_a_dag_error_naming_it(parameter: str) -> None:
    def star_args(*args: Any) -> None:
        return None

    def star_kwargs(**kwargs: Any) -> None:
        return None

    s = step(star_args if parameter == "args" else star_kwargs)

    with pytest.raises(DagError) as info:
        workflow("w", s)

    assert info.value.code == "dag_invalid"
    assert info.value.details == {"step": s.name, "parameter": parameter}


def test_a_positional_only_parameter_is_a_dag_error_naming_it() -> None:
    @step
    def pos(doc_id: str, /) -> str:
        return doc_id

    with pytest.raises(DagError) as info:
        workflow("w", pos)

    assert info.value.details == {"step": "pos", "parameter": "doc_id"}


def test_a_pydantic_model_parameter_gets_an_adapter_that_builds_the_model() -> None:
    @step
    def make() -> Report:
        return Report(title="t", pages=1)

    @step(depends_on=[make])
    def use(report: Report) -> int:
        return report.pages

    adapter = workflow("w", use).bindings["use"].adapters["report"]

    assert isinstance(adapter, TypeAdapter)
    assert adapter.validate_python({"title": "t", "pages": 3}) == Report(title="t", pages=3)


def test_a_pydantic_model_input_is_validated_and_returned_as_json() -> None:
    @step
    def use(report: Report) -> int:
        return report.pages

    wf = workflow("w", use)

    assert isinstance(wf.bindings["use"].adapters["report"], TypeAdapter)
    assert wf.validate_inputs({"report": {"title": "t", "pages": "3"}}) == {
        "report": {"title": "t", "pages": 3}
    }
    assert "Report" in str(wf.describe()["inputs"])


def test_unannotated_and_any_parameters_get_no_adapter() -> None:
    @step
    def use(a, b: Any, c: object, d: int) -> None:  # type: ignore[no-untyped-def]
        return None

    adapters = workflow("w", use).bindings["use"].adapters

    assert set(adapters) == {"d"}


def test_an_annotation_pydantic_cannot_use_is_a_dag_error_naming_the_parameter() -> None:
    class Opaque:
        pass

    @step
    def use(thing: Opaque) -> None:
        return None

    with pytest.raises(DagError) as info:
        workflow("w", use)

    assert info.value.details == {"step": "use", "parameter": "thing"}
