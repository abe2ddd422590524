"""Who asks: the subject of authorization and of the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.trace.records import JobRecord


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: the audit trail's subject.

    Attributes:
        id: ``key:<id>`` or ``user:<sub>`` (``anonymous`` without auth); stored as the job's
            ``user_id``.
        tenant_id: The tenant, if any.
        request_id: The HTTP request id.
        client_ip: The client's address.
        own_jobs_only: Sees and acts on only the jobs it submitted (submitters).
        all_tenants: No tenant boundary (auth disabled, ``orchestrator dev``).
        role: The principal's role (``admin``, ``operator``, ``submitter``, ``viewer``), which
            the job carries so that a worker decides tool policy as its submitter (DESIGN §15).
    """

    id: str = "anonymous"
    tenant_id: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    own_jobs_only: bool = False
    all_tenants: bool = False
    role: str | None = None

    @classmethod
    def of_principal(cls, principal: Mapping[str, str | None]) -> Actor:
        """A job's submitter as a worker acts for it, from ``ctx.principal`` (``{"tenant_id",
        "user_id", "role"}``): a worker decides policy, audits and meters as the submitter,
        never as itself."""
        return cls(id=principal.get("user_id") or "anonymous",
                   tenant_id=principal.get("tenant_id"), role=principal.get("role"))  # fmt: skip

    def sees(self, job: JobRecord) -> bool:
        """Whether this actor may see (and, given the permission, act on) ``job``."""
        if self.all_tenants:
            return True
        return job.tenant_id == self.tenant_id and (
            not self.own_jobs_only or job.user_id == self.id
        )


__all__ = ["Actor"]
