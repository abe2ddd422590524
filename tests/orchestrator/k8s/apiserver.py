"""A small local stand-in for the Kubernetes API server, speaking its real REST wire format.

No kube-apiserver can run here (no Docker, no binaries: ``shared/notes/keda-arq-k8s.md`` §5), so
the real ``kubernetes`` client is pointed at this HTTP server instead. It answers the three
calls the gateway makes with the API's own JSON shapes: ``PodList`` and ``JobList`` for
``GET /api/v1/namespaces/{ns}/pods`` and ``GET /apis/batch/v1/namespaces/{ns}/jobs`` (with
``labelSelector`` and ``fieldSelector=metadata.name=…`` applied as the API server applies
them), the deleted ``Pod`` for ``DELETE /api/v1/namespaces/{ns}/pods/{name}``, and a ``Status``
object for every error (401 without the bearer token, 403 when the configured RBAC rules do not
grant the verb, 404, 400 for selectors it does not implement, 405 for any other call). Every
request is recorded so tests can check exactly which verbs the client used.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

TIMESTAMP = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class Request:
    """One request the server saw, as RBAC sees it."""

    method: str
    path: str
    query: dict[str, str]
    api_group: str
    resource: str
    verb: str


@dataclass
class FakeApiServer:
    """Pods and Jobs per namespace, served over HTTP on 127.0.0.1.

    Attributes:
        token: The bearer token a request must carry.
        rules: RBAC grants as ``(api_group, resource, verb)``; ``None`` grants everything.
    """

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    rules: set[tuple[str, str, str]] | None = None
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeApiServer:
        """Serve in a daemon thread until :meth:`stop`."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def kubeconfig(self, directory: Path, *, namespace: str = "agent-orchestrator") -> Path:
        """Write a kubeconfig that points at this server with its bearer token."""
        path = directory / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "gateway", "user": {"token": self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "gateway",
                                                      "namespace": namespace}}],
        }))
        return path

    # -- the cluster's contents ---------------------------------------------------------------

    def add_pod(self, name: str, *, phase: str, labels: dict[str, str],
                namespace: str = "agent-orchestrator", job: str | None = None) -> None:
        """Add a Pod; ``job`` sets the labels the Job controller puts on its pods."""
        labels = dict(labels)
        if job:
            labels |= {"batch.kubernetes.io/job-name": job, "job-name": job}
        self.pods[(namespace, name)] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": _meta(name, namespace, labels),
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "worker", "image": "agent-orchestrator:0.1.0"}]},
            "status": {"phase": phase},
        }

    def add_job(self, name: str, *, labels: dict[str, str], finished: str | None = None,
                namespace: str = "agent-orchestrator") -> None:
        """Add a Job; ``finished`` (``Complete``/``Failed``) sets that condition True."""
        status: dict[str, Any] = {"active": 0 if finished else 1}
        if finished:
            status["conditions"] = [{"type": finished, "status": "True",
                                     "lastProbeTime": TIMESTAMP, "lastTransitionTime": TIMESTAMP}]
            status["succeeded" if finished == "Complete" else "failed"] = 1
        self.jobs[(namespace, name)] = {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": _meta(name, namespace, labels),
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "worker", "image": "agent-orchestrator:0.1.0"}]}}},
            "status": status,
        }

    # -- HTTP ---------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, auth: str | None) -> tuple[int, dict[str, Any]]:
        """Answer one request: ``(HTTP status, JSON body)``."""
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        route = _route(method, segments)
        if route is None:
            return _status(405, "MethodNotAllowed", f"{method} {parts.path} is not served here")
        group, resource, verb, namespace, name = route
        with self._lock:
            self.requests.append(Request(method, parts.path, query, group, resource, verb))
        if auth != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        if self.rules is not None and (group, resource, verb) not in self.rules:
            return _status(403, "Forbidden", f'{resource} is forbidden: cannot {verb} '
                           f'resource "{resource}" in API group "{group}"')
        store = self.pods if resource == "pods" else self.jobs
        if verb == "delete":
            with self._lock:
                obj = store.pop((namespace, name), None)
            if obj is None:
                return _status(404, "NotFound", f'{resource} "{name}" not found')
            return 200, obj
        try:
            matches = _selector(query.get("labelSelector", ""))
            field_name = _field_name(query.get("fieldSelector", ""))
        except ValueError as exc:
            return _status(400, "BadRequest", str(exc))
        with self._lock:
            items = [o for (ns, n), o in sorted(store.items()) if ns == namespace
                     and matches(o["metadata"].get("labels", {}))
                     and (field_name is None or n == field_name)]
        kind = "PodList" if resource == "pods" else "JobList"
        version = "v1" if resource == "pods" else "batch/v1"
        return 200, {"apiVersion": version, "kind": kind,
                     "metadata": {"resourceVersion": "1"}, "items": items}


def _meta(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels, "uid": str(uuid.uuid4()),
            "resourceVersion": "1", "creationTimestamp": TIMESTAMP}


def _route(method: str, s: list[str]) -> tuple[str, str, str, str, str | None] | None:
    """``(api_group, resource, verb, namespace, name)`` of the calls served, else ``None``."""
    if s[:3] == ["api", "v1", "namespaces"] and len(s) >= 5 and s[4] == "pods":
        if len(s) == 5 and method == "GET":
            return "", "pods", "list", s[3], None
        if len(s) == 6 and method == "DELETE":
            return "", "pods", "delete", s[3], s[5]
    if (s[:4] == ["apis", "batch", "v1", "namespaces"] and len(s) == 6 and s[5] == "jobs"
            and method == "GET"):
        return "batch", "jobs", "list", s[4], None
    return None


def _selector(text: str) -> Any:
    """An equality-based label selector (``a=b,c!=d,e,!f``) as a predicate on labels."""
    tests = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        if " in " in term or " notin " in term or "(" in term:
            raise ValueError(f"set-based selector {term!r} is not implemented by the fake")
        if "!=" in term:
            k, v = term.split("!=", 1)
            tests.append(lambda labels, k=k, v=v: labels.get(k) != v)
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            tests.append(lambda labels, k=k, v=v: labels.get(k) == v)
        elif term.startswith("!"):
            tests.append(lambda labels, k=term[1:]: k not in labels)
        else:
            tests.append(lambda labels, k=term: k in labels)
    return lambda labels: all(t(labels) for t in tests)


def _field_name(text: str) -> str | None:
    if not text:
        return None
    key, sep, value = text.partition("=")
    if key != "metadata.name" or not sep:
        raise ValueError(f"field selector {text!r} is not implemented by the fake")
    return value


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}


def _handler(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)  # DeleteOptions; the fake honours none of them
            code, body = server.handle(self.command, self.path, self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_DELETE = do_POST = do_PUT = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
