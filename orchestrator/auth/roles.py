"""Roles and permissions: the one table that says who may do what (docs/security.md).

Every gateway route declares one :class:`Permission`; a principal's :class:`Role` grants a set of
them. Job permissions are tenant-wide, except for submitters, who act on their own jobs only
(``jobs.user_id``). A job outside that scope is a 404, never a 403, so ids cannot be probed.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a principal may do. ``metrics`` is the static metrics token's, never a key's."""

    ADMIN = "admin"
    OPERATOR = "operator"
    SUBMITTER = "submitter"
    VIEWER = "viewer"
    METRICS = "metrics"


class Permission(StrEnum):
    """What a route needs. Job permissions double as the audit log's action names."""

    PUBLIC = "public"  # liveness and readiness probes: no credentials
    WORKFLOW_READ = "workflow.read"
    JOB_READ = "job.read"
    JOB_SUBMIT = "job.submit"
    JOB_CANCEL = "job.cancel"
    JOB_RETRY = "job.retry"
    JOB_INPUT = "job.input"
    SYSTEM_READ = "system.read"  # queue depth, metrics summary, Prometheus
    AUDIT_READ = "audit.read"
    TOOL_READ = "tool.read"  # GET /v1/tools (filtered further by the tool policy)
    TOOL_CALL = "tool.call"  # POST /v1/tools/{server}/{tool}:call (and the tool policy)
    TAG_READ = "tag.read"  # tags, their versions (admins only)
    TAG_WRITE = "tag.write"  # put and delete tags (admins only)
    POLICY_READ = "policy.read"  # a principal's effective policy and prompt (admins only)


_READ = frozenset({Permission.PUBLIC, Permission.WORKFLOW_READ, Permission.JOB_READ,
                   Permission.TOOL_READ})
_RUN = _READ | {Permission.JOB_SUBMIT, Permission.JOB_CANCEL, Permission.JOB_INPUT,
                Permission.TOOL_CALL}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _READ,
    Role.SUBMITTER: _RUN,  # on its own jobs only (OWN_JOBS_ONLY)
    Role.OPERATOR: _RUN | {Permission.JOB_RETRY, Permission.SYSTEM_READ},
    Role.ADMIN: frozenset(Permission),
    Role.METRICS: frozenset({Permission.PUBLIC, Permission.SYSTEM_READ}),
}
"""The permission table. Admin: everything in its tenant, including the audit log."""

OWN_JOBS_ONLY: frozenset[Role] = frozenset({Role.SUBMITTER})
"""Roles that see and act on only the jobs they submitted."""

KEY_ROLES: tuple[Role, ...] = (Role.ADMIN, Role.OPERATOR, Role.SUBMITTER, Role.VIEWER)
"""Roles an API key or a JWT may carry, strongest first."""


def allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` grants ``permission``."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def strongest(names: object) -> Role | None:
    """The strongest known key role among ``names`` (a string or a list of strings), if any."""
    given = {names} if isinstance(names, str) else set(names) if isinstance(names, list) else set()
    return next((role for role in KEY_ROLES if role.value in given), None)


__all__ = ["KEY_ROLES", "OWN_JOBS_ONLY", "ROLE_PERMISSIONS", "Permission", "Role", "allows",
           "strongest"]
