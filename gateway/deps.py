"""FastAPI dependencies: the process's services (the caller's identity: ``gateway/auth.py``)."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from orchestrator.jobs import JobService
from orchestrator.services import Services


def get_services(conn: HTTPConnection) -> Services:
    """The :class:`Services` opened in the lifespan."""
    services: Services = conn.app.state.services
    return services


def get_jobs(conn: HTTPConnection) -> JobService:
    """The :class:`JobService` of this process."""
    jobs: JobService = conn.app.state.jobs
    return jobs


__all__ = ["get_jobs", "get_services"]
