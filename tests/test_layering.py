"""Imports flow one way (DESIGN §1, STYLE rule 4): checked on the source, without importing it.

``orchestrator`` never imports ``gateway``, ``worker`` or ``sdk`` — except ``orchestrator.cli``,
the composition root that wires them (lazily, inside its commands). ``sdk`` imports only the pure
parts of ``orchestrator``. ``gateway`` and ``worker`` do not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SDK_MAY_USE = ("orchestrator.dag", "orchestrator.errors", "orchestrator.types")

RULES: dict[str, tuple[str, ...]] = {
    "orchestrator": ("gateway", "worker", "sdk"),
    "sdk": ("gateway", "worker"),
    "gateway": ("worker",),
    "worker": ("gateway",),
}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("package", sorted(RULES))
def test_a_package_never_imports_the_layers_above_it(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("orchestrator/cli/"):
            continue  # the composition root
        for name in imports_of(path):
            if top(name) in RULES[package]:
                offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_sdk_imports_only_pure_parts_of_the_core() -> None:
    offenders = []
    for path in sorted((ROOT / "sdk").rglob("*.py")):
        for name in imports_of(path):
            if top(name) == "orchestrator" and not name.startswith(SDK_MAY_USE):
                offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from gateway.app import create_app\nimport worker.runner\n")
    assert [top(n) for n in imports_of(bad)] == ["gateway", "worker"]
