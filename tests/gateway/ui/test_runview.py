"""The run page's waterfall rows and output caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.ui.runview import _waterfall_rows, cap, text_of
from orchestrator.trace.records import StepRunRecord
from orchestrator.types import StepStatus

T0 = datetime(2026, 12, 3, tzinfo=UTC)


def run(step: str, attempt: int, status: StepStatus, start_s: float, end_s: float,
        error: dict[str, str] | None = None) -> StepRunRecord:  # fmt: skip
    return StepRunRecord(job_id="j", step=step, attempt=attempt, status=status,
                         started_at=T0 + timedelta(seconds=start_s),
                         finished_at=T0 + timedelta(seconds=end_s),
                         duration_ms=(end_s - start_s) * 1000, error=error)  # fmt: skip


def test_attempts_are_rows_and_fan_out_instances_one_spanning_row() -> None:
    runs = [
        run("make_items", 1, StepStatus.FAILED, 0, 1, {"code": "worker_lost"}),
        run("make_items", 2, StepStatus.SUCCEEDED, 2, 3),
        *[run(f"work[{i}]", 1, StepStatus.SUCCEEDED, 3 + i / 1000, 4 + i / 1000)
          for i in range(1000)],
        run("total", 1, StepStatus.SUCCEEDED, 5, 6),
    ]  # fmt: skip
    rows = _waterfall_rows(runs)
    assert [(r.step, r.attempt, r.status) for r in rows] == [
        ("make_items", 1, "failed"), ("make_items", 2, "succeeded"), ("work", 1, "succeeded"),
        ("total", 1, "succeeded"),
    ]  # fmt: skip
    work = rows[2]
    assert work.started_at == T0 + timedelta(seconds=3)
    assert work.finished_at == T0 + timedelta(seconds=4.999)
    assert work.label == "work x1000 instances (1000 succeeded)"
    assert rows[0].error == {"code": "worker_lost"}


def test_a_failed_instance_makes_its_row_failed() -> None:
    runs = [run("w[0]", 1, StepStatus.SUCCEEDED, 0, 1), run("w[1]", 1, StepStatus.FAILED, 0, 2)]
    [row] = _waterfall_rows(runs)
    assert row.status == "failed" and "1 failed" in row.label


def test_outputs_are_text_and_cut_at_a_byte_limit() -> None:
    assert text_of("plain") == "plain" and text_of({"a": 1}) == '{\n  "a": 1\n}'
    assert cap("abc", 10) == ("abc", False)
    assert cap("é" * 10, 5) == ("éé", True)  # never half a character
