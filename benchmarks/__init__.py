"""Side-by-side benchmarks of AgentOrchestrator and its peers (issue 7).

Run ``make bench`` (or ``python -m benchmarks.run --help``). The layout:

- ``adapters/``: one module per system behind the :class:`~benchmarks.adapters.base.System`
  protocol (this project, raw arq, Celery on Redis, DBOS Transact on PostgreSQL), plus the code
  each system's worker processes import;
- ``workloads/``: workloads (a)-(f), each a function ``run(system, params) -> dict``;
- ``run.py``: the runner; ``report.py``: the JSON, Markdown and PNG report.

Peers are an optional extra (``pip install -e '.[bench]'``), never runtime dependencies.
"""
