"""The HTTP gateway: FastAPI routes for jobs, workflows and system, SSE and WebSocket streams."""

import orchestrator  # noqa: F401  # first: its start-up import settings (orchestrator/deferred.py)
from gateway.app import create_app

__all__ = ["create_app"]
