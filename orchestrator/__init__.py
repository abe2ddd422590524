"""AgentOrchestrator core: DAG model, keys, state store, queue, trace store, events, config, errors (no HTTP)."""

from orchestrator.deferred import defer as _defer
from orchestrator.deferred import import_without as _import_without

# Off every process's start (orchestrator/deferred.py): PyJWT and cryptography, which redis-py
# imports for an auth a worker rarely uses (~50-90 ms); rich, which structlog imports for
# output this project does not produce (~65-125 ms).
_defer("jwt")
_import_without("structlog", "rich")
