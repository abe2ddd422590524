"""Flow definitions compile to the runtime's own DAG; templates are sandboxed and checked early."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import DagError, InputValidationError, StepError
from orchestrator.flows import compile_flow
from orchestrator.flows.templates import References, compile_template


def template(source: str, *, mapped: bool = False) -> Any:
    return compile_template(source, step="s", where="prompt", known_steps={"a", "s"},
                            known_inputs={"x"}, mapped=mapped, refs=References())  # fmt: skip


def test_a_single_expression_keeps_its_json_type_and_text_renders_as_text() -> None:
    context = {"inputs": {"x": 3}, "steps": {"a": {"output": [1, 2]}}}

    assert template("{{ steps.a.output }}").render(context) == [1, 2]
    assert template("{{ inputs.x + 1 }}").render(context) == 4
    assert template("n={{ inputs.x }}").render(context) == "n=3"
    assert template("{% for v in steps.a.output %}{{ v }}{% endfor %}").render(context) == "12"


def test_an_undefined_value_at_run_time_is_a_template_error() -> None:
    with pytest.raises(StepError) as caught:
        template("{{ steps.a.output.missing }}").render(
            {"inputs": {}, "steps": {"a": {"output": {}}}}
        )
    assert caught.value.code == "template_error"


@pytest.mark.parametrize("source", [
    "{{ ''.__class__ }}", "{{ inputs.x.__class__.__mro__ }}", "{{ steps['__dict__'] }}",
    "{{ inputs.x|attr('__class__') }}", "{{ cycler.__init__.__globals__ }}", "{{ item }}",
    "{{ os }}", "{{ steps.nope.output }}", "{{ inputs.y }}", "{{ steps.s.output }}", "{{ x",
])  # fmt: skip
def test_templates_that_reach_internals_or_unknown_names_are_refused_at_compile_time(
    source: str,
) -> None:
    with pytest.raises(DagError) as caught:
        template(source)
    assert caught.value.details["step"] == "s" and caught.value.details["field"] == "prompt"


def test_template_references_become_dependencies_and_map_over_becomes_a_fan_out() -> None:
    wf = compile_flow({
        "inputs": {"names": {"type": "array"}},
        "steps": [
            {"name": "a", "prompt": "hi"},
            {"name": "b", "tool": "t/x", "map_over": "{{ inputs.names }}",
             "arguments": {"n": "{{ item }}", "prev": "{{ steps.a.output }}"}},
        ],
    })  # fmt: skip

    assert wf.deps["b"] == ["a", "b__items"]
    assert wf.steps["b"].map_over == "b__items"
    assert wf.steps["a"].streams is True and wf.steps["b"].streams is False
    assert wf.sinks == ["b"]
    assert wf.tools == {"b": "t/x"}


def test_the_same_definition_compiles_to_the_same_version_and_another_to_another() -> None:
    one = {"steps": [{"name": "a", "prompt": "hi"}]}
    same = {"steps": [{"prompt": "hi", "name": "a"}]}
    other = {"steps": [{"name": "a", "prompt": "hello"}]}

    assert compile_flow(one).version == compile_flow(same).version
    assert compile_flow(one).version != compile_flow(other).version


def test_inputs_are_validated_against_their_schemas_with_defaults() -> None:
    wf = compile_flow({"inputs": {"repo": {"type": "string"}, "n": {"type": "integer",
                                                                     "default": 5}},
                       "steps": [{"name": "a", "prompt": "{{ inputs.repo }}"}]})  # fmt: skip

    assert wf.validate_inputs({"repo": "."}) == {"repo": ".", "n": 5}
    for bad in ({}, {"repo": 3}, {"repo": ".", "extra": 1}):
        with pytest.raises(InputValidationError):
            wf.validate_inputs(bad)
