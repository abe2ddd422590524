"""``JobService``: the job operations behind the HTTP API, in one object per process."""

from __future__ import annotations

from orchestrator.jobs.batch import JobBatches
from orchestrator.jobs.control import JobControl
from orchestrator.services import Services


class JobService(JobBatches, JobControl):
    """Submits, reads and controls jobs.

    Args:
        services: Connections and workflows of the gateway process.
    """

    def __init__(self, services: Services) -> None:
        self.services = services


__all__ = ["JobService"]
