"""FastAPI dependencies: the process's services and the caller's identity."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import HTTPConnection

from orchestrator.jobs import Actor, JobService
from orchestrator.services import Services


def get_services(conn: HTTPConnection) -> Services:
    """The :class:`Services` opened in the lifespan."""
    services: Services = conn.app.state.services
    return services


def get_jobs(conn: HTTPConnection) -> JobService:
    """The :class:`JobService` of this process."""
    jobs: JobService = conn.app.state.jobs
    return jobs


def get_actor(request: Request) -> Actor:
    """The caller as the audit log names it (authentication arrives with a later issue)."""
    return Actor(
        id="anonymous",
        request_id=getattr(request.state, "request_id", None),
        client_ip=request.client.host if request.client else None,
    )


__all__ = ["get_actor", "get_jobs", "get_services"]
