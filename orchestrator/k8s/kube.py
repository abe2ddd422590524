"""``KubernetesCluster``: the cluster seam on the official ``kubernetes`` client (extra ``k8s``).

The client is blocking, so every call goes through one seam, :meth:`KubernetesCluster._call`:
``asyncio.to_thread`` bounded by the request timeout (STYLE rule 11). Three API calls are made,
and the chart's Role grants exactly these (``deploy/helm/agent-orchestrator/templates/rbac``):

- ``GET /apis/batch/v1/namespaces/{ns}/jobs?labelSelector=…``: list the worker Jobs;
- ``GET /api/v1/namespaces/{ns}/pods?labelSelector=…[&fieldSelector=metadata.name=…]``: list
  the worker pods (also to check that a pod is a worker before deleting it);
- ``DELETE /api/v1/namespaces/{ns}/pods/{name}``: a hard cancel.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from orchestrator.config import KubernetesSettings
from orchestrator.errors import ConfigError
from orchestrator.k8s.base import (
    ClusterError,
    WorkerJob,
    WorkerPod,
    Workload,
    count_workload,
)

T = TypeVar("T")

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


class KubernetesCluster:
    """Worker Jobs and pods of one namespace through the Kubernetes API.

    Args:
        api_client: A configured ``kubernetes.client.ApiClient`` (closed by :meth:`close`).
        namespace: Where the workers run.
        worker_selector: Label selector of the worker Jobs and pods.
        request_timeout_seconds: Bound on each API call.
        delete_grace_period_seconds: Grace period of a hard cancel's pod deletion.
    """

    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str,
        worker_selector: str,
        request_timeout_seconds: float = 5.0,
        delete_grace_period_seconds: int = 0,
    ) -> None:
        self.namespace = namespace
        self.worker_selector = worker_selector
        self._api_client = api_client
        self._core = k8s.CoreV1Api(api_client)
        self._batch = k8s.BatchV1Api(api_client)
        self._timeout = request_timeout_seconds
        self._grace = delete_grace_period_seconds

    @classmethod
    def in_cluster(cls, settings: KubernetesSettings) -> KubernetesCluster:
        """Connect with the pod's service account (token and CA mounted by Kubernetes).

        Raises:
            ConfigError: Not in a pod, or no service-account token is mounted.
        """
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except ConfigException as exc:
            raise ConfigError(f"no in-cluster Kubernetes config: {exc}",
                              details={"setting": "ORCH_KUBERNETES__MODE"}) from exc
        namespace = settings.namespace or _service_account_namespace() or "default"
        return cls._build(configuration, namespace, settings)

    @classmethod
    def from_kubeconfig(cls, settings: KubernetesSettings) -> KubernetesCluster:
        """Connect with a kubeconfig file (``settings.kubeconfig``, else KUBECONFIG or ~/.kube).

        Raises:
            ConfigError: The kubeconfig is missing or invalid.
        """
        configuration = k8s.Configuration()
        try:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=settings.kubeconfig, client_configuration=configuration,
                persist_config=False,
            )
            _, active = k8s_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                config_file=settings.kubeconfig
            )
        except (ConfigException, OSError, TypeError) as exc:
            raise ConfigError(f"cannot load kubeconfig: {exc}",
                              details={"setting": "ORCH_KUBERNETES__KUBECONFIG"}) from exc
        context_ns = (active or {}).get("context", {}).get("namespace")
        namespace = settings.namespace or context_ns or "default"
        return cls._build(configuration, namespace, settings)

    @classmethod
    def _build(cls, configuration: Any, namespace: str,
               settings: KubernetesSettings) -> KubernetesCluster:
        configuration.retries = 1  # one retry on a dropped connection, then ClusterError
        return cls(
            k8s.ApiClient(configuration),
            namespace=namespace,
            worker_selector=settings.worker_selector,
            request_timeout_seconds=settings.request_timeout_seconds,
            delete_grace_period_seconds=settings.delete_grace_period_seconds,
        )

    async def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """The one ``asyncio.to_thread`` seam: run a blocking client call, bounded in time.

        Raises:
            ClusterError: The API answered with an error, or could not be reached in time.
        """
        call = functools.partial(fn, *args, _request_timeout=self._timeout, **kwargs)
        try:
            # The thread itself is bounded by _request_timeout (per try, two tries at most).
            return await asyncio.wait_for(asyncio.to_thread(call), self._timeout * 2 + 1)
        except ApiException as exc:
            raise ClusterError(
                f"Kubernetes API answered {exc.status} {exc.reason}",
                details={"status": exc.status, "reason": exc.reason},
            ) from exc
        except (HTTPError, OSError, TimeoutError) as exc:
            raise ClusterError(f"Kubernetes API unreachable: {exc}",
                               details={"status": None}) from exc

    async def _pods(self, field_selector: str | None = None) -> list[WorkerPod]:
        kwargs = {"field_selector": field_selector} if field_selector else {}
        listed: Any = await self._call(self._core.list_namespaced_pod, self.namespace,
                                  label_selector=self.worker_selector, **kwargs)
        pods: list[WorkerPod] = []
        for item in listed.items or []:
            labels = item.metadata.labels or {}
            job = next((labels[k] for k in JOB_NAME_LABELS if k in labels), None)
            phase = (item.status.phase if item.status else None) or "Unknown"
            pods.append(WorkerPod(name=item.metadata.name, phase=phase, job_name=job))
        return pods

    async def _jobs(self) -> list[WorkerJob]:
        listed: Any = await self._call(self._batch.list_namespaced_job, self.namespace,
                                  label_selector=self.worker_selector)
        jobs: list[WorkerJob] = []
        for item in listed.items or []:
            conditions = (item.status.conditions if item.status else None) or []
            finished = next((c.type for c in conditions
                             if c.type in ("Complete", "Failed") and c.status == "True"), None)
            jobs.append(WorkerJob(name=item.metadata.name, finished=finished))
        return jobs

    async def workload(self) -> Workload | None:
        """List the worker Jobs and pods and count them by phase.

        Raises:
            ClusterError: The API failed or refused (e.g. 403 without the Role).
        """
        jobs, pods = await asyncio.gather(self._jobs(), self._pods())
        return count_workload(self.namespace, jobs, pods)

    async def delete_worker_pod(self, pod_name: str) -> bool:
        """Delete the pod if it matches the worker selector (never the gateway's own pod).

        Returns:
            ``True`` when deleted; ``False`` when no worker pod has that name (or it vanished).

        Raises:
            ClusterError: The API failed or refused.
        """
        if not await self._pods(field_selector=f"metadata.name={pod_name}"):
            return False
        try:
            await self._call(self._core.delete_namespaced_pod, pod_name, self.namespace,
                             grace_period_seconds=self._grace)
        except ClusterError as exc:
            if exc.details.get("status") == 404:
                return False  # it finished and was removed between the two calls
            raise
        return True

    async def close(self) -> None:
        """Close the client's connection pool."""
        await asyncio.to_thread(self._api_client.close)


def _service_account_namespace() -> str | None:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


__all__ = ["KubernetesCluster"]
