"""A worker pod starts from zero for every job: its entry point must not import the gateway,
anthropic, elastic-apm or the kubernetes client (``deploy/tools/importtime.py`` measures it)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.deploy.chart import ROOT


def importtime() -> ModuleType:
    """``deploy/tools/importtime.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        "importtime", ROOT / "deploy" / "tools" / "importtime.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_worker_entry_point_imports_nothing_of_the_gateway_or_the_agents() -> None:
    tool = importtime()
    worker = tool.profile(tool.ENTRY_POINTS["worker"])

    assert "worker.runner" in worker.modules
    assert tool.unwanted_in_worker(worker) == []


def test_the_check_sees_what_the_gateway_imports() -> None:
    tool = importtime()
    gateway = tool.profile(tool.ENTRY_POINTS["gateway"])

    assert {"gateway", "fastapi", "uvicorn"} <= set(tool.unwanted_in_worker(gateway))
    # The cluster client is imported only when the gateway runs in a cluster.
    assert "kubernetes" not in {m.split(".")[0] for m in gateway.modules}
    assert gateway.total_ms > 0
