"""FastAPI dependencies: the process's services (the caller's identity: ``gateway/auth.py``).

They are ``async def`` although they never await: FastAPI runs a plain ``def`` dependency in its
thread pool, a thread hand-off (and GIL round trip) per dependency per request for a getattr.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from orchestrator.jobs import JobService
from orchestrator.services import Services


async def get_services(conn: HTTPConnection) -> Services:
    """The :class:`Services` opened in the lifespan."""
    services: Services = conn.app.state.services
    return services


async def get_jobs(conn: HTTPConnection) -> JobService:
    """The :class:`JobService` of this process."""
    jobs: JobService = conn.app.state.jobs
    return jobs


__all__ = ["get_jobs", "get_services"]
