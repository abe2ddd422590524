"""The authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from orchestrator.auth.roles import OWN_JOBS_ONLY, Permission, Role, allows

AuthMethod = Literal["api_key", "jwt", "metrics_token", "none"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from, once its credentials were checked.

    Attributes:
        subject: ``key:<key id>`` for an API key, ``user:<sub>`` for a JWT, ``metrics`` for the
            static metrics token, ``anonymous`` when auth is disabled. Stored as ``jobs.user_id``.
        tenant_id: The tenant; ``None`` only for the metrics token and disabled auth.
        role: What the principal may do.
        method: How it authenticated.
    """

    subject: str
    tenant_id: str | None
    role: Role
    method: AuthMethod

    def can(self, permission: Permission) -> bool:
        """Whether the role grants ``permission``."""
        return allows(self.role, permission)

    @property
    def own_jobs_only(self) -> bool:
        """Whether it sees and acts on only the jobs it submitted."""
        return self.role in OWN_JOBS_ONLY

    @property
    def all_tenants(self) -> bool:
        """Only with auth disabled (``orchestrator dev``): no tenant boundary at all."""
        return self.method == "none"


ANONYMOUS = Principal(subject="anonymous", tenant_id=None, role=Role.ADMIN, method="none")
"""The caller when auth is disabled."""

__all__ = ["ANONYMOUS", "AuthMethod", "Principal"]
