"""AgentOrchestrator core: DAG model, keys, state store, queue, trace store, events, config, errors (no HTTP)."""
