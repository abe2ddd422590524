"""The KEDA checks catch what KEDA or the API server would reject or silently ignore."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.chart import CHART, one, render
from tests.deploy.keda import KedaSchemas


@pytest.fixture
def scaled_job(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A copy of the default ScaledJob, for the test to break."""
    return copy.deepcopy(one(rendered["default"], "ScaledJob", "-worker"))


def test_a_typo_in_the_charts_template_is_caught(
    helm: str, keda: KedaSchemas, tmp_path: Path
) -> None:
    chart = tmp_path / "agent-orchestrator"
    shutil.copytree(CHART, chart)
    template = chart / "templates" / "worker" / "scaledjob.yaml"
    template.write_text(template.read_text().replace("jobTargetRef:", "jobTargetref:"))

    job = one(render(helm, chart=chart), "ScaledJob", "-worker")
    errors = keda.errors(job)

    assert any("jobTargetref" in e and "not allowed" in e for e in errors), errors
    assert any("'jobTargetRef' is a required property" in e for e in errors), errors


def test_a_misspelled_trigger_metadata_key_is_caught(
    keda: KedaSchemas, scaled_job: dict[str, Any]
) -> None:
    metadata = scaled_job["spec"]["triggers"][0]["metadata"]
    metadata["valueLocaton"] = metadata.pop("valueLocation")

    assert keda.errors(scaled_job) == ["trigger metrics-api: unknown metadata key 'valueLocaton'"]


def test_a_metadata_value_that_is_not_a_string_is_caught(
    keda: KedaSchemas, scaled_job: dict[str, Any]
) -> None:
    scaled_job["spec"]["triggers"][0]["metadata"]["targetValue"] = 1

    (error,) = keda.errors(scaled_job)
    assert "targetValue" in error and "is not of type 'string'" in error


def test_a_wrong_strategy_and_a_zero_polling_interval_are_caught(
    keda: KedaSchemas, scaled_job: dict[str, Any]
) -> None:
    scaled_job["spec"]["scalingStrategy"]["strategy"] = "greedy"
    scaled_job["spec"]["pollingInterval"] = 0

    errors = keda.errors(scaled_job)
    assert len(errors) == 2 and any("greedy" in e for e in errors)
    assert any("pollingInterval" in e and "minimum" in e for e in errors)


def test_an_unknown_field_deep_in_the_pod_template_is_caught(
    keda: KedaSchemas, scaled_job: dict[str, Any]
) -> None:
    scaled_job["spec"]["jobTargetRef"]["template"]["spec"]["containers"][0]["imagee"] = "x"

    (error,) = keda.errors(scaled_job)
    assert "imagee" in error


def test_redis_trigger_keys_read_from_the_environment_are_accepted(keda: KedaSchemas) -> None:
    trigger = {"type": "redis", "metadata": {"addressFromEnv": "REDIS_ADDRESS",
                                             "listName": "arq:queue", "listLength": "1"}}
    assert keda.trigger_errors(trigger) == []
    assert keda.trigger_errors({"type": "redis", "metadata": {"listNameFromEnv": "Q"}}) == [
        "trigger redis: unknown metadata key 'listNameFromEnv'"
    ]


def test_an_auth_parameter_the_scaler_does_not_read_is_caught(keda: KedaSchemas) -> None:
    auth = {"spec": {"secretTargetRef": [{"parameter": "tokn", "name": "s", "key": "k"}]}}
    assert keda.auth_parameter_errors(auth, "metrics-api") == [
        "TriggerAuthentication: metrics-api does not read parameter 'tokn'"
    ]
