"""One adapter per system behind :class:`~benchmarks.adapters.base.System`; :func:`build` makes
the variants a run asks for. Peer modules are imported only when asked for, so a missing
``.[bench]`` extra skips that peer with a note instead of failing the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.adapters.base import StreamResult, System

if TYPE_CHECKING:  # worker processes import this package: keep psutil out of their start
    from benchmarks.infra import Infra
    from benchmarks.workloads.params import Params

SYSTEMS = ("agent-orchestrator", "arq", "celery", "dbos")
VARIANTS = ("default", "tuned", "aof-everysec", "private-redis")


def build(
    infra: Infra, params: Params, systems: list[str], variants: list[str]
) -> tuple[list[System], dict[str, str]]:
    """The systems x variants asked for.

    ``aof-everysec`` and its control ``private-redis`` apply to this project only (workloads a
    and d); ``tuned`` to the peers only (this project runs its defaults).

    Returns:
        ``(systems, skipped)``: the adapters, and ``{system: reason}`` for peers that cannot be
        imported (``pip install -e '.[bench]'``).
    """
    out: list[System] = []
    skipped: dict[str, str] = {}
    for name in systems:
        try:
            if name == "agent-orchestrator":
                from benchmarks.adapters.project import ProjectSystem

                for v in variants:
                    if v in ("default", "aof-everysec", "private-redis"):
                        out.append(ProjectSystem(
                            infra, variant=v, fanout_widths=[params.fanout_width],
                            chain_lengths=params.chain_lengths,
                        ))
            elif name == "arq":
                from benchmarks.adapters.arq_raw import ArqSystem

                out += [ArqSystem(infra, variant=v) for v in variants if v in ("default", "tuned")]
            elif name == "celery":
                from benchmarks.adapters.celery_redis import CelerySystem

                out += [CelerySystem(infra, variant=v) for v in variants
                        if v in ("default", "tuned")]
            elif name == "dbos":
                from benchmarks.adapters.dbos_pg import DbosSystem

                out += [DbosSystem(infra, variant=v) for v in variants
                        if v in ("default", "tuned")]
            else:
                raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
        except ImportError as exc:
            skipped[name] = f"cannot import it ({exc}); pip install -e '.[bench]'"
    return out, skipped


__all__ = ["SYSTEMS", "VARIANTS", "StreamResult", "System", "build"]
