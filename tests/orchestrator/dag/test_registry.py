"""``WorkflowRegistry``: workflows by name, found by importing the modules of ``ORCH_WORKFLOWS``."""

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.dag import Workflow, WorkflowRegistry, step, workflow
from orchestrator.errors import ConfigError, DagError, WorkflowNotFoundError

FLOWS = """
from sdk import StepContext, step, workflow


@step(parallel=True)
async def fetch(doc_id: str) -> str:
    return doc_id


@step(depends_on=[fetch])
def render(text: str, ctx: StepContext) -> str:
    return text.upper()


brief = workflow("brief", render)
summary = workflow("summary", fetch)
not_a_workflow = 42
"""


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write a uniquely named module into ``tmp_path`` (on ``sys.path``); returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str) -> str:
        name = f"flows_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def _wf(name: str) -> Workflow:
    @step
    def s(doc_id: str) -> str:
        return doc_id

    return workflow(name, s)


def test_from_modules_registers_every_workflow_a_module_defines(
    write_module: Callable[[str], str],
) -> None:
    module = write_module(FLOWS)

    registry = WorkflowRegistry.from_modules([module])

    assert len(registry) == 2
    assert sorted(wf.name for wf in registry) == ["brief", "summary"]
    assert registry.get("brief") is sys.modules[module].brief
    assert set(registry.get("brief").steps) == {"fetch", "render"}


def test_from_modules_registers_the_workflows_of_each_module(
    write_module: Callable[[str], str],
) -> None:
    first = write_module(FLOWS)
    second = write_module(
        """
        from sdk import step, workflow

        @step
        def only(x: int) -> int:
            return x

        other = workflow("other", only)
        """
    )

    registry = WorkflowRegistry.from_modules([first, second])

    assert sorted(wf.name for wf in registry) == ["brief", "other", "summary"]


def test_a_workflow_imported_into_a_second_module_is_registered_once(
    write_module: Callable[[str], str],
) -> None:
    first = write_module(FLOWS)
    second = write_module(f"from {first} import brief\n")

    registry = WorkflowRegistry.from_modules([first, second])

    assert len(registry) == 2


def test_an_unknown_module_is_a_config_error_naming_it() -> None:
    missing = f"no_such_module_{uuid.uuid4().hex}"

    with pytest.raises(ConfigError) as info:
        WorkflowRegistry.from_modules([missing])

    assert info.value.code == "config_invalid"
    assert info.value.details == {"module": missing}


def test_a_module_with_an_invalid_workflow_raises_the_dag_error(
    write_module: Callable[[str], str],
) -> None:
    module = write_module(
        """
        from sdk import step, workflow

        @step(depends_on=["missing"])
        def broken(x: int) -> int:
            return x

        bad = workflow("bad", broken)
        """
    )

    with pytest.raises(DagError) as info:
        WorkflowRegistry.from_modules([module])

    assert info.value.details["step"] == "broken"


def test_get_of_an_unknown_name_raises_workflow_not_found() -> None:
    registry = WorkflowRegistry([_wf("known")])

    with pytest.raises(WorkflowNotFoundError) as info:
        registry.get("unknown")

    assert info.value.code == "workflow_not_found"
    assert info.value.details == {"workflow": "unknown", "known": ["known"]}


def test_registering_the_same_workflow_twice_is_a_no_op() -> None:
    wf = _wf("same")
    registry = WorkflowRegistry([wf])

    registry.register(wf)

    assert len(registry) == 1
    assert registry.get("same") is wf


def test_two_different_workflows_of_one_name_are_a_dag_error() -> None:
    registry = WorkflowRegistry([_wf("twin")])

    with pytest.raises(DagError) as info:
        registry.register(_wf("twin"))

    assert info.value.code == "dag_invalid"
    assert info.value.details == {"workflow": "twin"}
