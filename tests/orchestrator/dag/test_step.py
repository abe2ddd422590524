"""The ``@step`` decorator: options, kinds, and the option errors it raises at decoration time."""

from typing import Any

import pytest

from orchestrator.dag import Step, StepKind, step
from orchestrator.errors import DagError


def test_a_bare_decorator_makes_a_step_named_after_the_function() -> None:
    @step
    def fetch(doc_id: str) -> str:
        return doc_id

    assert isinstance(fetch, Step)
    assert fetch.name == "fetch"
    assert fetch.depends_on == ()


def test_a_decorator_with_options_keeps_them() -> None:
    @step(
        name="renamed",
        parallel=True,
        retries=3,
        retry_backoff_seconds=0.5,
        timeout_seconds=10,
        cache_ttl_seconds=60,
    )
    def fetch() -> int:
        return 1

    assert fetch.name == "renamed"
    assert fetch.options() == {
        "parallel": True,
        "streams": False,
        "retries": 3,
        "retry_backoff_seconds": 0.5,
        "timeout_seconds": 10,
        "cache_ttl_seconds": 60,
        "kind": "sync",
        "retry_max_backoff_seconds": 300.0,
        "retry_on": ["Exception"],
        "no_retry_on": [],
        "map_over": None,
        "max_concurrency": None,
    }


def test_a_step_has_the_documented_defaults() -> None:
    @step()
    def plain() -> None:
        return None

    assert plain.options() == {
        "parallel": False,
        "streams": False,
        "retries": 0,
        "retry_backoff_seconds": 1.0,
        "timeout_seconds": None,
        "cache_ttl_seconds": None,
        "kind": "sync",
        "retry_max_backoff_seconds": 300.0,
        "retry_on": ["Exception"],
        "no_retry_on": [],
        "map_over": None,
        "max_concurrency": None,
    }


def test_calling_a_step_calls_its_function_unchanged() -> None:
    @step
    def add(a: int, b: int = 2) -> int:
        """Adds."""
        return a + b

    assert add(1) == 3
    assert add(a=1, b=5) == 6
    assert add.__doc__ == "Adds."


def test_depends_on_keeps_steps_and_names_in_the_given_order() -> None:
    @step
    def a() -> int:
        return 1

    @step(depends_on=[a, "b"])
    def c(x: int, y: int) -> int:
        return x + y

    assert c.depends_on == (a, "b")


def test_a_plain_function_is_a_sync_step() -> None:
    @step
    def f() -> int:
        return 1

    assert f.kind is StepKind.SYNC


def test_a_coroutine_function_is_an_async_step() -> None:
    @step
    async def f() -> int:
        return 1

    assert f.kind is StepKind.ASYNC


def test_an_async_generator_with_streams_is_an_async_generator_step() -> None:
    @step(streams=True)
    async def f() -> Any:
        yield 1

    assert f.kind is StepKind.ASYNC_GEN


def test_a_sync_generator_with_streams_is_a_sync_generator_step() -> None:
    @step(streams=True)
    def f() -> Any:
        yield 1

    assert f.kind is StepKind.SYNC_GEN


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_streams_on_a_function_that_is_not_a_generator_is_a_dag_error(is_async: bool) -> None:
    async def coro() -> str:
        return "x"

    def func() -> str:
        return "x"

    with pytest.raises(DagError) as info:
        step(streams=True)(coro if is_async else func)

    assert info.value.code == "dag_invalid"
    assert info.value.details == {"step": "coro" if is_async else "func", "parameter": "streams"}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_generator_without_streams_is_a_dag_error(is_async: bool) -> None:
    async def agen() -> Any:
        yield "x"

    def gen() -> Any:
        yield "x"

    with pytest.raises(DagError) as info:
        step(agen if is_async else gen)

    assert info.value.code == "dag_invalid"
    assert info.value.details == {"step": "agen" if is_async else "gen", "parameter": "streams"}


def test_negative_retries_are_a_dag_error() -> None:
    with pytest.raises(DagError) as info:

        @step(retries=-1)
        def flaky() -> None:
            return None

    assert info.value.code == "dag_invalid"
    assert info.value.details == {"step": "flaky", "parameter": "retries"}


def test_non_integer_retries_are_a_dag_error() -> None:
    with pytest.raises(DagError) as info:

        @step(retries=1.5)  # type: ignore[arg-type]
        def flaky() -> None:
            return None

    assert info.value.details == {"step": "flaky", "parameter": "retries"}


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("retry_backoff_seconds", -0.1),
        ("timeout_seconds", 0),
        ("timeout_seconds", -1),
        ("cache_ttl_seconds", 0),
    ],
)
def test_an_out_of_range_duration_is_a_dag_error_naming_the_option(
    option: str, value: float
) -> None:
    def slow() -> None:
        return None

    with pytest.raises(DagError) as info:
        step(**{option: value})(slow)

    assert info.value.code == "dag_invalid"
    assert info.value.details == {"step": "slow", "parameter": option}


@pytest.mark.parametrize("bad_name", ["has-dash", "has space", "1starts_with_digit", "a.b"])
def test_a_step_name_that_is_not_an_identifier_is_a_dag_error(bad_name: str) -> None:
    def fn() -> None:
        return None

    with pytest.raises(DagError) as info:
        step(name=bad_name)(fn)

    assert info.value.code == "dag_invalid"
    assert info.value.details == {"step": bad_name, "parameter": "name"}


def test_decorating_a_step_twice_is_a_dag_error() -> None:
    @step
    def once() -> None:
        return None

    with pytest.raises(DagError) as info:
        step(once)

    assert info.value.details == {"step": "once", "parameter": "fn"}


def test_decorating_something_that_is_not_callable_is_a_dag_error() -> None:
    with pytest.raises(DagError) as info:
        step(name="x")(42)  # type: ignore[arg-type]

    assert info.value.details == {"parameter": "fn"}


# -- code fingerprints (issue 11, defect 1) ------------------------------------------------------

_FINGERPRINTS = """
import json
from tests.e2e.hardening_flows import closures
print(json.dumps({"version": closures.version,
                  "steps": {n: s.code_fingerprint for n, s in closures.steps.items()}}))
"""


def test_a_step_with_lambdas_nested_functions_and_comprehensions_has_one_fingerprint_in_every_process() -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    seen = []
    for seed in ("1", "2", "3"):  # string sets iterate in a per-seed order
        out = subprocess.run(
            [sys.executable, "-c", _FINGERPRINTS], cwd=root, capture_output=True, text=True,
            timeout=60, env={**__import__("os").environ, "PYTHONHASHSEED": seed},
        )
        assert out.returncode == 0, out.stderr
        seen.append(json.loads(out.stdout))
    assert seen[0] == seen[1] == seen[2]
    from tests.e2e.hardening_flows import closures

    assert seen[0]["version"] == closures.version


def test_a_change_inside_a_nested_function_changes_the_fingerprint() -> None:
    from orchestrator.dag.step import code_fingerprint

    def outer_a(xs: list[int]) -> list[int]:
        return [x + 1 for x in xs]

    def outer_b(xs: list[int]) -> list[int]:
        return [x + 2 for x in xs]

    first = code_fingerprint(outer_a)

    def outer_a(xs: list[int]) -> list[int]:
        return [x + 1 for x in xs]

    assert code_fingerprint(outer_a) == first
    assert code_fingerprint(outer_b) != first
