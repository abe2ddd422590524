# The front door (STYLE rule 17): every target does its own set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export ORCH_WORKFLOWS ?= examples.repo_brief

.PHONY: install run test test-unit lint services bench e2e-kind clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	@touch $(STAMP)

install: $(STAMP)

## make run: gateway + worker in one process (embedded Redis/SQLite unless ORCH_* URLs are set),
## submits examples/repo_brief on this repository and streams the brief to the terminal.
run: install
	$(BIN)/orchestrator dev --port 0 --submit repo_brief --input repo_path=$(CURDIR)

## make test: the whole suite against real Redis and PostgreSQL (started if installed but down).
test: install services
	$(BIN)/python -m pytest

services:
	@bash .ci/services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	@echo "make bench: the side-by-side benchmarks are not built yet (issue 7)."

e2e-kind:
	@if ! docker info >/dev/null 2>&1; then \
	  echo "make e2e-kind: skipped, no Docker engine on this machine (needs Docker for kind)."; \
	else echo "make e2e-kind: the kind run arrives with the Helm chart (issue 4)."; fi

clean:
	rm -rf $(VENV) .orchestrator .pytest_cache .mypy_cache .ruff_cache
