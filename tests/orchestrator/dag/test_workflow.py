"""``workflow()``: DAG collection, the DagErrors it raises, order, sinks, inputs and version."""

from collections.abc import Callable

import pytest

from orchestrator.dag import Workflow, step, workflow
from orchestrator.errors import DagError, InputValidationError


def test_a_workflow_holds_its_sink_and_every_ancestor() -> None:
    @step
    def root() -> int:
        return 1

    @step(depends_on=[root])
    def middle(x: int) -> int:
        return x

    @step(depends_on=[middle])
    def leaf(x: int) -> int:
        return x

    @step
    def unrelated() -> int:
        return 0

    wf = workflow("w", leaf)

    assert isinstance(wf, Workflow)
    assert set(wf.steps) == {"root", "middle", "leaf"}
    assert wf.deps == {"root": [], "middle": ["root"], "leaf": ["middle"]}


def test_a_workflow_with_several_sinks_lists_each_of_them() -> None:
    @step
    def root() -> int:
        return 1

    @step(depends_on=[root])
    def left(x: int) -> int:
        return x

    @step(depends_on=[root])
    def right(x: int) -> int:
        return x

    wf = workflow("w", left, right)

    assert sorted(wf.sinks) == ["left", "right"]


def test_a_shared_ancestor_is_collected_once() -> None:
    @step
    def root() -> int:
        return 1

    @step(depends_on=[root])
    def left(x: int) -> int:
        return x

    @step(depends_on=[root])
    def right(x: int) -> int:
        return x

    @step(depends_on=[left, right])
    def join(a: int, b: int) -> int:
        return a + b

    wf = workflow("w", join)

    assert sorted(wf.steps) == ["join", "left", "right", "root"]
    assert wf.sinks == ["join"]


def test_the_topological_order_puts_every_dependency_before_its_dependents() -> None:
    @step
    def a() -> int:
        return 1

    @step(depends_on=[a])
    def b(x: int) -> int:
        return x

    @step(depends_on=[a])
    def c(x: int) -> int:
        return x

    @step(depends_on=[c, b])
    def d(x: int, y: int) -> int:
        return x + y

    @step(depends_on=[d, a])
    def e(x: int, y: int) -> int:
        return x + y

    wf = workflow("w", e)
    order = list(wf.steps)

    for name, ups in wf.deps.items():
        for up in ups:
            assert order.index(up) < order.index(name), (up, name, order)


def test_the_topological_order_follows_string_dependencies_against_definition_order() -> None:
    @step(depends_on=["late"])
    def early(x: int) -> int:
        return x

    @step
    def late() -> int:
        return 1

    wf = workflow("w", early, late)

    assert list(wf.steps) == ["late", "early"]
    assert wf.sinks == ["early"]
    assert wf.bindings["early"].upstream_params == {"x": "late"}


def test_a_string_dependency_resolves_to_the_step_of_that_name() -> None:
    @step
    def source() -> int:
        return 1

    @step(depends_on=["source"])
    def sink(source: int) -> int:
        return source

    wf = workflow("w", sink, source)

    assert wf.deps["sink"] == ["source"]
    assert wf.bindings["sink"].upstream_params == {"source": "source"}


def test_a_dependency_that_is_not_a_step_is_a_dag_error_naming_the_step() -> None:
    def plain() -> int:
        return 1

    @step(depends_on=[plain])
    def uses_plain(x: int) -> int:
        return x

    with pytest.raises(DagError) as info:
        workflow("w", uses_plain)

    assert info.value.code == "dag_invalid"
    assert info.value.details == {"workflow": "w", "step": "uses_plain", "parameter": "depends_on"}


def test_an_unknown_string_dependency_is_a_dag_error_naming_the_step() -> None:
    @step(depends_on=["nowhere"])
    def lonely(x: int) -> int:
        return x

    with pytest.raises(DagError) as info:
        workflow("w", lonely)

    assert info.value.code == "dag_invalid"
    assert info.value.details == {"workflow": "w", "step": "lonely", "parameter": "depends_on"}


def test_a_dependency_listed_twice_is_a_dag_error_naming_the_step() -> None:
    @step
    def a() -> int:
        return 1

    @step(depends_on=[a, "a"])
    def b(x: int, y: int) -> int:
        return x + y

    with pytest.raises(DagError) as info:
        workflow("w", b)

    assert info.value.details == {"workflow": "w", "step": "b", "parameter": "depends_on"}


def test_two_different_steps_of_one_name_are_a_dag_error_naming_the_step_and_option() -> None:
    @step(name="fetch")
    def fetch_one() -> int:
        return 1

    @step(name="fetch")
    def fetch_two() -> int:
        return 2

    @step(depends_on=[fetch_one])
    def left(x: int) -> int:
        return x

    @step(depends_on=[fetch_two])
    def right(x: int) -> int:
        return x

    with pytest.raises(DagError) as info:
        workflow("w", left, right)

    assert info.value.code == "dag_invalid"
    assert info.value.details["workflow"] == "w"
    assert info.value.details["step"] == "fetch"
    # workflow()'s docstring promises that ``details`` names the step *and parameter* for every
    # DagError it raises (here the clash is in the steps' ``name`` option).
    assert "parameter" in info.value.details


def test_passing_the_same_step_twice_is_not_a_name_clash() -> None:
    @step
    def only() -> int:
        return 1

    wf = workflow("w", only, only)

    assert list(wf.steps) == ["only"]


def test_a_cycle_through_string_names_is_a_dag_error_naming_a_step_on_it() -> None:
    @step(depends_on=["b"])
    def a(x: int) -> int:
        return x

    @step(depends_on=[a])
    def b(x: int) -> int:
        return x

    with pytest.raises(DagError) as info:
        workflow("w", b)

    assert info.value.code == "dag_invalid"
    assert info.value.details["cycle"] == ["a", "b"]
    assert info.value.details["step"] in {"a", "b"}
    assert info.value.details["parameter"] == "depends_on"


def test_a_step_depending_on_itself_is_a_cycle() -> None:
    @step(depends_on=["selfish"])
    def selfish(x: int) -> int:
        return x

    with pytest.raises(DagError) as info:
        workflow("w", selfish)

    assert info.value.details["cycle"] == ["selfish"]
    assert info.value.details["step"] == "selfish"


def test_a_cycle_downstream_of_an_acyclic_part_names_only_the_steps_on_it() -> None:
    @step
    def root() -> int:
        return 1

    @step(depends_on=[root, "y"])
    def x(r: int, y: int) -> int:
        return r + y

    @step(depends_on=[x])
    def y(v: int) -> int:
        return v

    with pytest.raises(DagError) as info:
        workflow("w", y)

    assert info.value.details["cycle"] == ["x", "y"]


def test_one_input_typed_differently_by_two_steps_is_a_dag_error_naming_it() -> None:
    @step
    def as_int(limit: int) -> int:
        return limit

    @step
    def as_str(limit: str) -> str:
        return limit

    with pytest.raises(DagError) as info:
        workflow("w", as_int, as_str)

    assert info.value.code == "dag_invalid"
    assert info.value.details["parameter"] == "limit"
    assert info.value.details["step"] in {"as_int", "as_str"}


def test_one_input_typed_alike_by_two_steps_is_one_workflow_input() -> None:
    @step
    def one(doc_id: str) -> str:
        return doc_id

    @step
    def two(doc_id: str) -> str:
        return doc_id

    wf = workflow("w", one, two)

    assert wf.input_names == ["doc_id"]
    assert wf.validate_inputs({"doc_id": "d"}) == {"doc_id": "d"}


def test_an_input_required_by_one_step_stays_required_when_another_gives_a_default() -> None:
    @step
    def optional(limit: int = 3) -> int:
        return limit

    @step
    def required(limit: int) -> int:
        return limit

    wf = workflow("w", optional, required)

    assert wf.input_model.model_json_schema()["required"] == ["limit"]


def test_an_argument_that_is_not_a_step_is_a_dag_error() -> None:
    def plain() -> int:
        return 1

    with pytest.raises(DagError) as info:
        workflow("w", plain)  # type: ignore[arg-type]

    assert info.value.details == {"workflow": "w", "parameter": "steps"}


def test_a_workflow_without_steps_is_a_dag_error() -> None:
    with pytest.raises(DagError) as info:
        workflow("w")

    assert info.value.details == {"workflow": "w"}


@pytest.mark.parametrize("name", ["", "has space", "-leading-dash", "x" * 201])
def test_a_workflow_whose_name_the_api_would_refuse_is_a_dag_error(name: str) -> None:
    @step
    def s() -> int:
        return 1

    with pytest.raises(DagError) as info:
        workflow(name, s)

    assert info.value.details == {"workflow": name, "parameter": "name"}


def test_the_version_is_stable_for_the_same_dag() -> None:
    @step
    def s(doc_id: str) -> str:
        return doc_id

    assert workflow("w", s).version == workflow("w", s).version


def test_the_version_changes_when_a_step_option_changes() -> None:
    def body(doc_id: str) -> str:
        return doc_id

    plain = step(name="s")(body)
    retried = step(name="s", retries=2)(body)

    assert workflow("w", plain).version != workflow("w", retried).version


def _private_input(_private: int) -> int:
    return _private


def _model_config_input(model_config: int) -> int:
    return model_config


def _model_dump_input(model_dump: int) -> int:
    return model_dump


@pytest.mark.parametrize(
    ("fn", "parameter"),
    [
        (_private_input, "_private"),
        (_model_config_input, "model_config"),
        (_model_dump_input, "model_dump"),
    ],
)
def test_an_input_whose_name_pydantic_reserves_is_usable_or_a_dag_error_at_workflow_time(
    fn: Callable[[int], int], parameter: str
) -> None:
    # DESIGN §2: binding problems are DagErrors at workflow() time, never failures at run time,
    # and a missing input is rejected at submit, naming it.
    s = step(fn)

    try:
        wf = workflow("w", s)
    except DagError as exc:
        assert exc.details["step"] == fn.__name__
        assert exc.details["parameter"] == parameter
        return

    assert wf.validate_inputs({parameter: 1}) == {parameter: 1}
    with pytest.raises(InputValidationError) as info:
        wf.validate_inputs({})
    assert [e["parameter"] for e in info.value.details["errors"]] == [parameter]
