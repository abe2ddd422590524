"""The report of a run: ``results/<stamp>.json``, ``<stamp>.md`` (a table per workload with each
system's figures and its ratio to this project's) and plots ``<stamp>-a.png``, ``<stamp>-d.png``.

The results document (what :func:`render_markdown` reads)::

    {"run": {"mode", "started_at", "machine", "versions", "loadavg_start", "loadavg_end", ...},
     "systems": [{"system", "variant", "config", "notes",
                  "results": {"a": {...} | {"error": "..."}, ...}}]}

A ratio is ``system figure / this project's figure`` (default variant): below 1 the peer is
better when lower is better (latency), above 1 when higher is better (throughput).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT = "agent-orchestrator"
"""The system whose figures the ratios divide by."""

Getter = Callable[[dict[str, Any]], float | int | str | None]


def _get(*path: str) -> Getter:
    def get(r: dict[str, Any]) -> Any:
        cur: Any = r
        for key in path:
            if not isinstance(cur, dict) or key not in cur:
                return None
            cur = cur[key]
        return cur

    return get


def _case(case: str, key: str) -> Getter:
    return _get("cases", case, key)


def _size(size: str) -> Getter:
    return _get("by_size", size, "per_step_ms")


COLUMNS: dict[str, list[tuple[str, Getter, str | None]]] = {
    "a": [
        ("p50 ms", _get("p50_ms"), "lower"),
        ("p99 ms", _get("p99_ms"), "lower"),
        ("in worker p50 ms", _get("inside", "p50_ms"), "lower"),
        ("in worker p99 ms", _get("inside", "p99_ms"), None),
        ("samples", _get("samples"), None),
    ],
    "b": [
        ("enqueue jobs/s", _get("enqueue_per_s"), "higher"),
        ("drain jobs/s", _get("drain_per_s"), "higher"),
        ("enqueue via SDK jobs/s", _get("enqueue_sdk_per_s"), "higher"),
        ("jobs", _get("jobs"), None),
    ],
    "c": [
        ("total s (median)", _get("median_s"), "lower"),
        ("best s", _get("best_s"), None),
        ("peak worker RSS MB", _get("peak_rss_mb"), "lower"),
        ("width", _get("width"), None),
    ],
    "d": [
        ("ms/step 100 B", _size("100"), "lower"),
        ("ms/step 10 KB", _size("10000"), "lower"),
        ("ms/step 1 MB", _size("1000000"), "lower"),
    ],
    "e": [
        ("ws/1 p50", _case("ws/1", "p50_ms"), None),
        ("ws/10 p50", _case("ws/10", "p50_ms"), None),
        ("ws/100 p50", _case("ws/100", "p50_ms"), "lower"),
        ("ws/100 p99", _case("ws/100", "p99_ms"), "lower"),
        ("ws/100 @10ms p50", _case("ws/100 @10ms", "p50_ms"), None),
        ("ws/100 @10ms p99", _case("ws/100 @10ms", "p99_ms"), None),
        ("sse/100 p50", _case("sse/100", "p50_ms"), "lower"),
        ("sse/100 p99", _case("sse/100", "p99_ms"), None),
        ("lost", lambda r: sum(c["lost"] for c in r.get("cases", {}).values()), None),
        ("dup", lambda r: sum(c["duplicated"] for c in r.get("cases", {}).values()), None),
    ],
    "f": [
        ("ended/trials", lambda r: f"{r.get('ended')}/{r.get('trials')}", None),
        ("finished steps re-run", _get("finished_steps_rerun"), None),
        ("kill→end p50 s", _get("kill_to_end_p50_s"), "lower"),
        ("kill→end max s", _get("kill_to_end_max_s"), None),
    ],
    "g": [
        ("p50 ms", _get("p50_ms"), "lower"),
        ("p99 ms", _get("p99_ms"), "lower"),
        ("samples", _get("samples"), None),
    ],
    "h": [
        ("exec → job.started p50 s", _get("started_p50_s"), "lower"),
        ("max s", _get("started_max_s"), None),
        ("import p50 s", _get("import_p50_s"), "lower"),
        ("idle RSS MB", _get("idle_rss_mb"), "lower"),
        ("runs", _get("runs"), None),
    ],
    "i": [
        ("batched jobs/s", _get("enqueue_per_s"), "higher"),
        ("jobs", _get("jobs"), None),
        ("per request", _get("batch_size"), None),
    ],
}
"""Per workload: (column, how to read it from the result, which direction is better or None)."""

TITLES = {
    "a": "(a) no-op diamond A → {B, C} → D, one job at a time (submit → result)",
    "b": "(b) single-step jobs: enqueue rate, and drain rate of 2 worker processes",
    "c": "(c) fan-out into parallel steps and a join (2 worker processes)",
    "d": "(d) per-step overhead of chains (slope over lengths) by output size",
    "e": "(e) streaming: yield → receive latency (ms), chunks lost/duplicated",
    "f": "(f) kill -9 of the worker at step 5 of a 10-step chain",
    "g": "(g) the fixed cost of a job: a 1-step no-op job, submit → result, one at a time",
    "h": "(h) cold start: exec of `orchestrator worker --one-job` (Celery: `celery worker`, DBOS: "
         "its worker) with a job queued → job.started (the task's or workflow's start)",
    "i": "(i) batched submits: `POST /v1/jobs/batch`, 1,000 jobs per request, 2 in flight",
}


def _label(entry: dict[str, Any]) -> str:
    return f"{entry['system']} ({entry['variant']})"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _ratio(value: Any, base: Any) -> str:
    if not isinstance(value, int | float) or not isinstance(base, int | float) or not base:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value / base:.2f}x"


def _baseline(doc: dict[str, Any], workload: str) -> dict[str, Any] | None:
    for entry in doc["systems"]:
        if entry["system"] == PROJECT and entry["variant"] == "default":
            r = entry.get("results", {}).get(workload)
            return r if r and "error" not in r else None
    return None


def workload_table(doc: dict[str, Any], workload: str) -> str:
    """The Markdown table of one workload: each system's figures, ratios on the marked columns."""
    cols = COLUMNS[workload]
    base = _baseline(doc, workload)
    header = ["system"]
    for name, _, better in cols:
        header.append(name)
        if better:
            header.append(f"ratio ({better} is better)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in doc["systems"]:
        r = entry.get("results", {}).get(workload)
        if r is None:
            note = entry.get("notes", {}).get(workload)
            if note:
                lines.append(f"| {_label(entry)} | not run: {note} |" + " |" * (len(header) - 2))
            continue
        if "error" in r:
            lines.append(f"| {_label(entry)} | error: {str(r['error'])[:120]} |"
                         + " |" * (len(header) - 2))
            continue
        row = [_label(entry)]
        for _, get, better in cols:
            value = get(r)
            row.append(_fmt(value))
            if better:
                row.append(_ratio(value, get(base)) if base else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render_markdown(doc: dict[str, Any]) -> str:
    """The whole report: run facts, then one table per workload that any system ran."""
    run = doc["run"]
    out = [f"# Benchmark run {run.get('started_at', '')} ({run.get('mode', '')} mode)", ""]
    machine = run.get("machine", {})
    out.append("Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()))
    versions = run.get("versions", {})
    out.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    for key in ("commit", "services", "loadavg_start", "loadavg_end", "elapsed_s", "peers_from"):
        if key in run:
            out.append(f"{key}: {run[key]}")
    out.append("")
    out.append("Ratios divide by agent-orchestrator (default); lower is better for times, higher "
               "for rates. A benchmark, not a test: other work on this machine shows in the "
               "load averages above and in each workload's `loadavg` in the JSON.")
    for workload in COLUMNS:
        if not any(workload in e.get("results", {}) or workload in e.get("notes", {})
                   for e in doc["systems"]):
            continue
        out += ["", f"## {TITLES[workload]}", "", workload_table(doc, workload)]
    out += ["", "## Configurations", ""]
    for entry in doc["systems"]:
        cfg = ", ".join(f"`{k}={v}`" for k, v in entry.get("config", {}).items())
        out.append(f"- **{_label(entry)}**: {cfg}")
    return "\n".join(out) + "\n"


def plot(doc: dict[str, Any], out_dir: Path, stamp: str) -> list[Path]:
    """PNG plots: (a) latency CDFs, (d) chain time against length per output size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []
    series = [(e, e["results"].get("a")) for e in doc["systems"]]
    series = [(e, r) for e, r in series if r and "raw_ms" in r and r["raw_ms"]]
    if series:
        fig, ax = plt.subplots(figsize=(8, 5))
        for e, r in series:
            xs = sorted(r["raw_ms"])
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax.plot(xs, ys, label=_label(e))
        ax.set_xscale("log")
        ax.set_xlabel("submit → result (ms, log scale)")
        ax.set_ylabel("fraction of jobs")
        ax.set_title("(a) no-op diamond latency CDF")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = out_dir / f"{stamp}-a.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    chains = [(e, e["results"].get("d")) for e in doc["systems"]]
    chains = [(e, r) for e, r in chains if r and "by_size" in r]
    if chains:
        sizes = sorted({s for _, r in chains for s in r["by_size"]}, key=int)
        fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4.5), squeeze=False)
        for ax, size in zip(axes[0], sizes, strict=True):
            for e, r in chains:
                times = r["by_size"].get(size, {}).get("times_ms", {})
                if times:
                    xs = sorted(times, key=int)
                    ax.plot([int(x) for x in xs], [times[x] for x in xs], marker="o",
                            label=_label(e))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("chain length (steps)")
            ax.set_ylabel("submit → result (ms)")
            ax.set_title(f"(d) {int(size):,} B outputs")
            ax.grid(True, which="both", alpha=0.3)
        axes[0][0].legend(fontsize=7)
        path = out_dir / f"{stamp}-d.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def write(doc: dict[str, Any], out_dir: Path, stamp: str, *, plots: bool = True) -> list[Path]:
    """Write ``<stamp>.json``, ``<stamp>.md`` and the plots into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stamp}.json"
    json_path.write_text(json.dumps(doc, indent=1, default=str))
    md_path = out_dir / f"{stamp}.md"
    md_path.write_text(render_markdown(doc))
    paths = [json_path, md_path]
    if plots:
        paths += plot(doc, out_dir, stamp)
    return paths


__all__ = ["COLUMNS", "PROJECT", "plot", "render_markdown", "workload_table", "write"]
