"""The HTTP gateway: FastAPI routes for jobs, workflows and system, SSE and WebSocket streams."""

from gateway.app import create_app

__all__ = ["create_app"]
