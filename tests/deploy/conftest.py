"""Fixtures of the deployment checks: the helm binary, renders, KEDA's schemas."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.chart import COMBINATIONS, render, tool, values_args
from tests.deploy.keda import KEDA_DIR, KedaSchemas


@pytest.fixture(scope="session")
def helm() -> str:
    """A real helm binary."""
    return tool("helm")


@pytest.fixture(scope="session")
def kubectl() -> str:
    """A real kubectl binary (for its built-in kustomize)."""
    return tool("kubectl")


@pytest.fixture(scope="session")
def rendered(helm: str) -> dict[str, list[dict[str, Any]]]:
    """Every documented values combination, rendered once per session."""
    return {name: render(helm, *values_args(name)) for name in COMBINATIONS}


@pytest.fixture(scope="session")
def keda() -> KedaSchemas:
    """KEDA v2.20.2's CRD schemas and scaler parameters from ../shared/k8s (beside the repo)."""
    if not KEDA_DIR.is_dir():
        pytest.skip(f"KEDA CRDs not found at {KEDA_DIR} (../shared/k8s beside the repository)")
    return KedaSchemas.load()
