"""Several runs side by side: each figure's median over the runs, its spread, and its ratio to
this project's median (issue 19: "the run-to-run spread of three runs").

Usage::

    python -m benchmarks.spread results/A.json results/B.json results/C.json [--out FILE.md]

For every workload column with a direction (``report.COLUMNS``), each system (variant) gets
``median (min..max)`` over the runs that measured it, and the ratio of its median to this
project's median (lower is better for times, higher for rates). A system that some runs did not
measure is shown over the runs that did (``n`` says how many).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import COLUMNS, PROJECT, TITLES, _fmt


def _figures(docs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``{workload: {system label: {column: [value per run]}}}`` (numeric values only)."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for doc in docs:
        for entry in doc["systems"]:
            label = f"{entry['system']} ({entry['variant']})"
            for workload, r in entry.get("results", {}).items():
                if workload not in COLUMNS or not isinstance(r, dict) or "error" in r:
                    continue
                for name, get, better in COLUMNS[workload]:
                    value = get(r)
                    if better and isinstance(value, int | float):
                        cols = out.setdefault(workload, {}).setdefault(label, {})
                        cols.setdefault(name, []).append(float(value))
    return out


def spread_tables(docs: list[dict[str, Any]]) -> str:
    """The Markdown tables: one per workload, a row per system, ``median (min..max)`` and the
    ratio to this project's median for each column with a direction."""
    figures = _figures(docs)
    base_label = f"{PROJECT} (default)"
    lines = [f"Runs: {len(docs)} — " + ", ".join(
        f"{d['run'].get('started_at', '?')} (commit {d['run'].get('commit', '?')}, load "
        f"{d['run'].get('loadavg_start', '?')})" for d in docs)]  # fmt: skip
    for workload, systems in figures.items():
        cols = [(n, b) for n, _, b in COLUMNS[workload] if b]
        header = ["system", "n"]
        for name, better in cols:
            header += [f"{name} median (min..max)", f"ratio ({better} is better)"]
        lines += ["", f"### {TITLES[workload]}", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]  # fmt: skip
        base = systems.get(base_label, {})
        for label, values in systems.items():
            n = max(len(v) for v in values.values())
            row = [label, str(n)]
            for name, _ in cols:
                vs = values.get(name)
                if not vs:
                    row += ["-", "-"]
                    continue
                med = statistics.median(vs)
                row.append(f"{_fmt(med)} ({_fmt(min(vs))}..{_fmt(max(vs))})")
                b = base.get(name)
                row.append(f"{med / statistics.median(b):.2f}x" if b and statistics.median(b)
                           else "-")  # fmt: skip
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print (or write) the tables of the runs named on the command line."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.spread", description=__doc__)
    ap.add_argument("runs", nargs="+", type=Path, help="results/<stamp>.json files")
    ap.add_argument("--out", type=Path, help="write the Markdown here instead of printing it")
    args = ap.parse_args(argv)
    docs = []
    for path in args.runs:
        try:
            docs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"spread: cannot read {path}: {exc}; name results/<stamp>.json files",
                  file=sys.stderr)  # fmt: skip
            return 2
    text = spread_tables(docs)
    if args.out:
        args.out.write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
