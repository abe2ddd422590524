"""``open_cluster``: the one factory that picks the cluster implementation from the settings."""

from __future__ import annotations

import os
from collections.abc import Mapping

import structlog

from orchestrator.config import KubernetesSettings
from orchestrator.errors import ConfigError
from orchestrator.k8s.base import Cluster
from orchestrator.k8s.none import NoCluster

log = structlog.get_logger("k8s")


def open_cluster(
    settings: KubernetesSettings, *, environ: Mapping[str, str] | None = None
) -> Cluster:
    """Pick the cluster client by ``settings.mode``.

    ``off`` gives :class:`NoCluster`; ``kubeconfig`` and ``in-cluster`` the real client;
    ``auto`` the in-cluster client when ``KUBERNETES_SERVICE_HOST`` is set (Kubernetes sets it
    in every pod) and a service-account token is mounted, :class:`NoCluster` otherwise. The
    ``kubernetes`` package is imported only when a real client is built, so processes outside
    a cluster never pay for it.

    Args:
        settings: The ``kubernetes`` settings section.
        environ: The environment (default ``os.environ``).

    Returns:
        The cluster client; close it with ``await cluster.close()``.

    Raises:
        ConfigError: ``in-cluster`` or ``kubeconfig`` was asked for and cannot be loaded, or
            the ``kubernetes`` package (extra ``k8s``) is not installed.
    """
    env = os.environ if environ is None else environ
    mode = settings.mode
    if mode == "off" or (mode == "auto" and "KUBERNETES_SERVICE_HOST" not in env):
        return NoCluster()
    try:
        from orchestrator.k8s.kube import KubernetesCluster
    except ImportError as exc:
        if mode == "auto":
            log.warning("in a cluster but the kubernetes package is missing (extra k8s)")
            return NoCluster()
        raise ConfigError("the kubernetes package is not installed: pip install "
                          "'agent-orchestrator[k8s]'", details={"setting": "ORCH_KUBERNETES__MODE"}
                          ) from exc
    if mode == "kubeconfig":
        return KubernetesCluster.from_kubeconfig(settings)
    try:
        return KubernetesCluster.in_cluster(settings)
    except ConfigError as exc:
        if mode == "in-cluster":
            raise
        log.warning("in a cluster without a service-account token; cluster awareness off",
                    error=exc.message)
        return NoCluster()


__all__ = ["open_cluster"]
