"""The ``orchestrator`` command line (typer).

The CLI is the composition root: the one place in ``orchestrator`` that wires the gateway and
the worker together, so it imports them lazily inside the commands that need them (keeping
``orchestrator worker`` free of the gateway's imports). The layering check exempts it.
"""
