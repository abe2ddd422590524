"""The benchmark runner: ``python -m benchmarks.run [--quick] [--systems ...] [--workloads ...]``.

For each system variant: start its infrastructure, run each selected workload it can express
(each bounded by a time budget; a failure is recorded, not fatal), stop it; then write the report
(:mod:`benchmarks.report`). Load averages are recorded at the start and end of every workload,
since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import adapters, report
from benchmarks.infra import Infra
from benchmarks.procs import exclusive_run, kill_all
from benchmarks.workloads import WORKLOADS, params

RESULTS_DIR = Path(__file__).resolve().parent / "results"
WORKLOAD_BUDGET_SECONDS = {"quick": 120.0, "full": 1800.0}
"""Hard cap on one workload of one system (on top of the workloads' own bounds)."""


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("agent-orchestrator", "arq", "redis", "celery", "kombu", "dbos", "fastapi",
                 "uvicorn", "sqlalchemy", "asyncpg"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _machine() -> dict[str, Any]:
    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def _git() -> str:
    """The commit measured, and whether runtime files differed from it (read-only git calls)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, cwd=RESULTS_DIR.parents[1]).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "orchestrator", "worker", "gateway", "sdk"],
            capture_output=True, text=True, timeout=10, cwd=RESULTS_DIR.parents[1],
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} (+{len(dirty)} uncommitted runtime files)" if dirty else head


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the selected matrix; return the results document."""
    p = params.quick() if args.quick else params.full()
    for item in args.set:
        p.override(item)
    budget = WORKLOAD_BUDGET_SECONDS[p.mode]
    infra = Infra()
    variants = args.variants or list(adapters.VARIANTS)
    systems, skipped = adapters.build(infra, p, args.systems, variants)
    if args.quick and args.variants is None:  # a smoke run: the peers' defaults only poll slowly
        systems = [s for s in systems if s.name == report.PROJECT or s.variant != "default"]
    doc: dict[str, Any] = {
        "run": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": p.mode,
            "params": p.as_dict(),
            "machine": _machine(),
            "versions": _versions(),
            "commit": _git(),
            "services": {
                "redis": infra.redis_config("appendonly", "appendfsync", "save"),
                "postgres": await infra.pg_version(),
            },
            "loadavg_start": _load(),
            "logs": str(infra.log_dir),
        },
        "systems": [],
    }
    t_run = time.monotonic()
    for name, reason in skipped.items():
        doc["systems"].append({"system": name, "variant": "-", "config": {},
                               "notes": dict.fromkeys(args.workloads, reason), "results": {}})
    for system in systems:
        entry: dict[str, Any] = {"system": system.name, "variant": system.variant,
                                 "config": {}, "notes": {}, "results": {}}
        doc["systems"].append(entry)
        print(f"== {system.name} ({system.variant})", flush=True)
        try:
            await asyncio.wait_for(system.start(), 180)
            entry["config"] = system.config
            for w in args.workloads:
                if w not in system.workloads:
                    if w in system.notes:
                        entry["notes"][w] = system.notes[w]
                    continue
                t0, load0 = time.monotonic(), _load()
                print(f"   ({w}) {WORKLOADS[w][0]} ...", end=" ", flush=True)
                try:
                    result = await asyncio.wait_for(WORKLOADS[w][1](system, p), budget)
                except Exception as exc:
                    result = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                    traceback.print_exc()
                    await system.stop_workers()
                result["elapsed_s"] = round(time.monotonic() - t0, 1)
                result["loadavg"] = [load0, _load()]
                entry["results"][w] = result
                print(_brief(w, result), flush=True)
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            traceback.print_exc()
        finally:
            await system.stop()
    doc["run"]["loadavg_end"] = _load()
    doc["run"]["elapsed_s"] = round(time.monotonic() - t_run, 1)
    if args.peers_from:
        _merge_peers(doc, args.peers_from)
    return doc


def _merge_peers(doc: dict[str, Any], path: Path) -> None:
    """Append the systems of an earlier run that this run did not measure (peers change rarely,
    this project often), each marked with the run it comes from."""
    import json

    earlier = json.loads(path.read_text())
    measured = {(e["system"], e["variant"]) for e in doc["systems"]}
    for entry in earlier["systems"]:
        if (entry["system"], entry["variant"]) not in measured:
            entry["config"] = {"measured in": earlier["run"]["started_at"], **entry["config"]}
            doc["systems"].append(entry)
    doc["run"]["peers_from"] = f"{path.name} (load {earlier['run'].get('loadavg_start')})"


def _brief(w: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return "error: " + r["error"].splitlines()[0][:200]
    cols = report.COLUMNS[w]
    return ", ".join(f"{name}={report._fmt(get(r))}" for name, get, _ in cols)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small samples: a few minutes in all")
    ap.add_argument("--systems", default=",".join(adapters.SYSTEMS),
                    help=f"comma-separated, of {', '.join(adapters.SYSTEMS)}")
    ap.add_argument("--variants", default=None,
                    help="comma-separated, of default (all systems), tuned (peers), aof-everysec "
                         "and private-redis (this project, (a) and (d), on a Redis of their own "
                         "with and without AOF); all by default (--quick: the peers' tuned "
                         "variants only)")
    ap.add_argument("--workloads", default="abcdefghi", help="letters of the workloads to run")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="where the report goes")
    ap.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    ap.add_argument("--peers-from", type=Path, metavar="RESULTS.json",
                    help="add the systems of an earlier run that this run does not measure")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a size of benchmarks/workloads/params.py, e.g. "
                         "--set stream_interval_ms=10 --set chain_lengths=1,10")
    args = ap.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if args.variants is not None:
        args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    args.workloads = [w for w in args.workloads if w in WORKLOADS]
    return args


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so the finally below stops every child


def main(argv: list[str] | None = None) -> int:
    """Run, write the report, print where it went."""
    args = parse(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with exclusive_run():
            doc = asyncio.run(run(args))
    finally:
        kill_all()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    paths = report.write(doc, args.out, stamp, plots=not args.no_plots)
    print(report.render_markdown(doc))
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
