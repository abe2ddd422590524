"""The benchmark report renders each workload as a table with ratios to this project (no services)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report


def fake_results() -> dict[str, Any]:
    return {
        "run": {"started_at": "2026-01-01T00:00:00+00:00", "mode": "quick",
                "machine": {"cpus": 2}, "versions": {"python": "3.11"},
                "loadavg_start": [0.5, 0.4, 0.3], "loadavg_end": [1.0, 0.5, 0.3]},
        "systems": [
            {"system": "agent-orchestrator", "variant": "default", "config": {"poll": 0.05},
             "notes": {}, "results": {
                 "a": {"p50_ms": 10.0, "p99_ms": 20.0, "inside": {"p50_ms": 2.0, "p99_ms": 3.0},
                       "samples": 1000, "raw_ms": [9.0, 10.0, 11.0]},
                 "b": {"enqueue_per_s": 500.0, "drain_per_s": 1000.0, "jobs": 10_000,
                       "enqueue_sdk_per_s": 400.0},
                 "e": {"cases": {"ws/100": {"p50_ms": 1.0, "p99_ms": 5.0, "lost": 0,
                                            "duplicated": 0}}},
             }},
            {"system": "celery", "variant": "tuned", "config": {"pool": "solo"},
             "notes": {"e": "cannot stream"}, "results": {
                 "a": {"p50_ms": 25.0, "p99_ms": 30.0, "inside": None, "samples": 1000,
                       "raw_ms": [24.0, 25.0]},
                 "b": {"enqueue_per_s": 2000.0, "drain_per_s": 1500.0, "jobs": 10_000},
             }},
            {"system": "dbos", "variant": "default", "config": {}, "notes": {},
             "results": {"a": {"error": "RuntimeError: boom"}}},
        ],
    }


def row_of(table: str, label: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {label} "))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_a_latency_row_shows_the_figure_and_its_ratio_to_this_project() -> None:
    table = report.workload_table(fake_results(), "a")
    assert row_of(table, "agent-orchestrator (default)")[1:3] == ["10", "1.00x"]
    celery = row_of(table, "celery (tuned)")
    assert celery[1:3] == ["25", "2.50x"]
    assert celery[3:5] == ["30", "1.50x"]


def test_a_rate_ratio_above_one_means_the_peer_is_faster() -> None:
    table = report.workload_table(fake_results(), "b")
    assert "higher is better" in table.splitlines()[0]
    assert row_of(table, "celery (tuned)")[1:5] == ["2,000", "4.00x", "1,500", "1.50x"]
    # the enqueue through the project's SDK (peers enqueue with their own client only)
    assert row_of(table, "agent-orchestrator (default)")[5:7] == ["400", "1.00x"]
    assert row_of(table, "celery (tuned)")[5] == "-"


def test_errors_and_inexpressible_workloads_are_rows_not_crashes() -> None:
    doc = fake_results()
    assert "error: RuntimeError: boom" in report.workload_table(doc, "a")
    assert "not run: cannot stream" in report.workload_table(doc, "e")


def test_the_markdown_report_has_the_run_facts_and_one_section_per_workload_run() -> None:
    md = report.render_markdown(fake_results())
    assert "loadavg_start: [0.5, 0.4, 0.3]" in md
    assert "## (a)" in md and "## (b)" in md and "## (e)" in md
    assert "## (c)" not in md  # nobody ran it
    assert "**celery (tuned)**: `pool=solo`" in md


def test_write_produces_json_markdown_and_the_latency_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    paths = report.write(fake_results(), tmp_path, "stamp")
    names = sorted(p.name for p in paths)
    assert names == ["stamp-a.png", "stamp.json", "stamp.md"]
    assert (tmp_path / "stamp-a.png").stat().st_size > 0


def test_the_spread_of_three_runs_is_the_median_with_min_and_max_and_a_ratio_to_ours(
    tmp_path: Path,
) -> None:
    from benchmarks import spread

    docs = []
    for ours, theirs in ((10.0, 25.0), (12.0, 20.0), (11.0, 30.0)):
        doc = fake_results()
        doc["systems"][0]["results"]["a"]["p50_ms"] = ours
        doc["systems"][1]["results"]["a"]["p50_ms"] = theirs
        docs.append(doc)
    text = spread.spread_tables(docs)
    ours_row = row_of(text, "agent-orchestrator (default)")
    celery_row = row_of(text, "celery (tuned)")
    assert ours_row[1:4] == ["3", "11 (10..12)", "1.00x"]
    assert celery_row[1:4] == ["3", "25 (20..30)", "2.27x"]
    assert "dbos (default)" not in text  # an errored workload has no figures

    paths = []
    for n, doc in enumerate(docs):
        path = tmp_path / f"{n}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    out = tmp_path / "spread.md"
    assert spread.main([*paths, "--out", str(out)]) == 0
    assert out.read_text() == text
    assert spread.main([str(tmp_path / "missing.json")]) == 2
