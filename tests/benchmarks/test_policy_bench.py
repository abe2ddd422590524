"""The tag policy benchmark runs end to end on a small tenant (real Redis and PostgreSQL) and
writes its report; the figures themselves are the benchmark's, not asserted here."""

from __future__ import annotations

import uuid
from pathlib import Path

from benchmarks import policy


def test_the_policy_benchmark_measures_and_reports(tmp_path: Path) -> None:
    database = f"orch_bench_tags_{uuid.uuid4().hex[:8]}"  # not the benchmark's own
    assert (
        policy.main(
            [
                "--tags",
                "60",
                "--decisions",
                "300",
                "--cold-samples",
                "3",
                "--out",
                str(tmp_path),
                "--database",
                database,
            ]
        )
        == 0
    )

    [report] = tmp_path.glob("*-policy.md")
    text = report.read_text()
    assert "| decision from cache, with arguments |" in text
    assert "| cold resolution (PostgreSQL + resolve + Redis write) |" in text
    assert len(list(tmp_path.glob("*-policy.json"))) == 1
