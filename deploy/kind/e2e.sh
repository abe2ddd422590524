#!/usr/bin/env bash
# make e2e-kind: the chart on a real cluster (DESIGN §8). A kind cluster, KEDA from its Helm
# chart, Redis and PostgreSQL, the image built from this repository, the chart; then one `hello`
# job: a worker pod must appear from zero, the job must succeed, and no worker pod may be left
# running. Needs Docker and kind; skips (exit 0) where no Docker engine answers.
#   E2E_KEEP=1        keep the cluster afterwards
#   E2E_CLUSTER=name  the kind cluster's name (default orchestrator-e2e)
#   KEDA_CHART_VERSION (default 2.20.2, the version the offline checks validate against)
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "make e2e-kind: skipped: no Docker engine answers on this machine (kind runs Kubernetes"
  echo "nodes as Docker containers). The offline chart checks run in 'make test'."
  exit 0
fi
if ! command -v kind >/dev/null 2>&1; then
  echo "make e2e-kind: needs kind on PATH: https://kind.sigs.k8s.io/docs/user/quick-start/" >&2
  exit 1
fi

HELM=${HELM:-$PWD/.tools/bin/helm}
KUBECTL=${KUBECTL:-$PWD/.tools/bin/kubectl}
CLUSTER=${E2E_CLUSTER:-orchestrator-e2e}
KEDA_CHART_VERSION=${KEDA_CHART_VERSION:-2.20.2}
NS=agent-orchestrator
RELEASE=agent-orchestrator
WORKERS="app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=worker"
PORT=18000
export KUBECONFIG="$PWD/.tools/kind-$CLUSTER.kubeconfig"

log() { echo "e2e-kind: $*"; }
k() { "$KUBECTL" -n "$NS" "$@"; }
wait_for() {  # wait_for SECONDS WHAT CMD...: poll CMD every 2 s until it succeeds
  local limit=$1 what=$2; shift 2
  for _ in $(seq 1 $((limit / 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 2; done
  log "timed out after ${limit} s waiting for $what"; k get pods,jobs,scaledjobs -o wide || true
  return 1
}
cleanup() {
  [ -n "${FORWARD_PID:-}" ] && kill "$FORWARD_PID" 2>/dev/null || true
  if [ "${E2E_KEEP:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

log "kind cluster $CLUSTER"
kind get clusters 2>/dev/null | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG"

log "image agent-orchestrator:e2e"
docker build -t agent-orchestrator:e2e .
kind load docker-image agent-orchestrator:e2e --name "$CLUSTER"

log "KEDA $KEDA_CHART_VERSION"
"$HELM" repo add kedacore https://kedacore.github.io/charts --force-update >/dev/null
"$HELM" upgrade --install keda kedacore/keda --version "$KEDA_CHART_VERSION" \
  --namespace keda --create-namespace --wait --timeout 5m

log "Redis and PostgreSQL"
"$KUBECTL" create namespace "$NS" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
k apply -f deploy/kind/dependencies.yaml
k rollout status deployment/redis deployment/postgresql --timeout 180s

log "the chart (its pre-install hook migrates the database)"
"$HELM" upgrade --install "$RELEASE" deploy/helm/agent-orchestrator --namespace "$NS" \
  -f deploy/kind/values.yaml --wait --timeout 5m

running_workers() { k get pods -l "$WORKERS" --field-selector=status.phase!=Succeeded,status.phase!=Failed -o name; }
log "no worker runs before a job is queued"
[ -z "$(running_workers)" ] || { log "worker pods exist before any job"; exit 1; }

k port-forward "svc/$RELEASE-gateway" "$PORT:8000" >/dev/null 2>&1 &
FORWARD_PID=$!
URL="http://127.0.0.1:$PORT"
wait_for 30 "the port-forward" curl -sf "$URL/healthz"
TOKEN=$(k get secret "$RELEASE" -o jsonpath='{.data.gateway-api-key}' | base64 -d)

log "submit hello"
JOB=$(curl -sf -X POST "$URL/v1/jobs" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"workflow": "hello", "inputs": {"name": "kind"}}' \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["job_id"])')
log "job $JOB"

wait_for 120 "a worker pod started from zero" sh -c "[ -n \"\$($KUBECTL -n $NS get pods -l '$WORKERS' -o name)\" ]"
log "worker pod: $(k get pods -l "$WORKERS" -o name | head -n1)"

job_status() { curl -sf "$URL/v1/jobs/$JOB" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])'; }
wait_for 180 "the job to succeed" sh -c "[ \"\$(curl -sf $URL/v1/jobs/$JOB | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])')\" = succeeded ]"
log "job status: $(job_status)"
curl -sf "$URL/v1/jobs/$JOB" | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["letter"])'

wait_for 120 "the worker pods to go back to zero" sh -c "[ -z \"\$($KUBECTL -n $NS get pods -l '$WORKERS' --field-selector=status.phase!=Succeeded,status.phase!=Failed -o name)\" ]"
log "metrics: $(curl -sf "$URL/v1/system/metrics")"
log "passed: a worker started from zero, ran the job, and exited"
