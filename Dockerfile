# syntax=docker/dockerfile:1
# One image for the gateway, the worker and the migration Job (DESIGN §8):
#   docker build -t agent-orchestrator:0.1.0 .
#   docker build --build-arg EXTRAS=k8s,telemetry,agents -t agent-orchestrator:0.1.0-agents .
#   docker run --rm agent-orchestrator:0.1.0 gateway | worker --one-job | migrate
# Your workflow code goes on /app/workflows (on PYTHONPATH): a child image that copies it there
# (deploy/README.md), or a volume mounted there (the chart's extraVolumes/extraVolumeMounts).
# CI has no Docker engine: tests/deploy/test_dockerfile.py parses this file with the official
# parser and runs the build stage's COPY and RUN steps in a clean virtual environment.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: a virtual environment with the package and its dependencies, bytecode compiled ----
FROM ${PYTHON_IMAGE} AS build
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv "$VIRTUAL_ENV"
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
COPY sdk ./sdk
COPY gateway ./gateway
COPY worker ./worker
COPY migrations ./migrations
COPY examples ./examples
# Extras to install: k8s (the gateway's cluster awareness), telemetry (OTLP export, which the
# chart's ORCH_TELEMETRY__* settings turn on); add agents for anthropic and mcp-server-git (the
# MCP client itself is a core dependency), elastic for the
# classic Elastic APM agent.
ARG EXTRAS=k8s,telemetry
# pip compiles every module to bytecode here, so a worker pod started from zero does not.
# (pip stays in the venv: a child image may `pip install` its workflows' own dependencies.)
RUN pip install --no-warn-script-location ".${EXTRAS:+[$EXTRAS]}"

# -- runtime: the base image plus that virtual environment, run as a non-root user -------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /app/workflows
COPY --from=build /opt/venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/workflows \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORCH_GATEWAY__HOST=0.0.0.0 \
    ORCH_WORKFLOWS=examples.hello
WORKDIR /app
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["orchestrator"]
CMD ["gateway"]
