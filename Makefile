# Two commands matter: `make dev` (local API with the mocks, no Docker) and `make test` (everything CI runs).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# python3.13 from PATH when it really runs (a pyenv shim may not), else from pyenv's versions.
PY313 := $(shell \
	if python3.13 -c 'import sys' >/dev/null 2>&1; then command -v python3.13; \
	else ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n 1; fi)
PY313_BIN := $(dir $(PY313))

UV_VERSION := 0.13.9
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
PORT ?= 3000
AWS_DEFAULT_REGION ?= eu-west-1

export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION
export UV_PROJECT_ENVIRONMENT := $(VENV)
# `sam build` looks up python3.13 on PATH for the functions.
export PATH := $(PY313_BIN):$(PATH)

.PHONY: help dev test lint format test-only build validate deploy delete e2e bench soak lock layer-requirements clean python go coverage

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

python:
	@test -n "$(PY313)" || { echo "python3.13 not found on PATH or in pyenv (pyenv install 3.13)" >&2; exit 1; }

$(UV): | python
	$(PY313) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PY313)
	@touch $@

$(SAM_VENV)/.installed: tools/sam-requirements.txt | python
	rm -rf $(SAM_VENV)
	$(PY313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/sam-requirements.txt
	@touch $@

dev: $(VENV)/.synced $(SAM_VENV)/.installed ## Run the local API (BFF + mocks) on 127.0.0.1:$(PORT), no Docker
	@exec $(SAM_VENV)/bin/python -m localapi --template template.yaml --port $(PORT) --worker-python $(VENV)/bin/python

test: lint test-only ## Lint, type-check and run every test suite

test-only: $(VENV)/.synced $(SAM_VENV)/.installed
	$(VENV)/bin/pytest

coverage: $(VENV)/.synced ## Unit-test coverage of the BFF and the mocks
	$(VENV)/bin/coverage run --source=functions/bff/bff,mocks/mockkit -m pytest -q tests/unit
	$(VENV)/bin/coverage report --show-missing --skip-covered

lint: $(VENV)/.synced ## ruff (format + lint) and mypy --strict
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

format: $(VENV)/.synced ## Format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

validate: $(SAM_VENV)/.installed ## sam validate (--lint) and cfn-lint
	$(SAM) validate --lint
	$(SAM) validate
	$(SAM_VENV)/bin/cfn-lint template.yaml

build: $(SAM_VENV)/.installed ## sam build (arm64 layer with bytecode)
	$(SAM) build

deploy: build ## Deploy with SAM (asks for parameters the first time)
	$(SAM) deploy --guided

delete: $(SAM_VENV)/.installed ## Delete the deployed stack
	$(SAM) delete

e2e: $(VENV)/.synced ## End-to-end suite against BFF_URL (a deployed API), or a local API it starts
	$(VENV)/bin/pytest tests/e2e -m e2e

go:
	@command -v go >/dev/null || { apt-get update -qq && apt-get install -y -qq golang-go >/dev/null; } \
		|| echo "Go not installed: the Go reference baseline will be skipped"

bench: $(VENV)/.synced go ## Benchmark suite (writes bench/results/; Go reference where Go installs)
	$(VENV)/bin/python -m bench.run

soak: $(VENV)/.synced ## 60 s soak run with a flapping mock (not part of make test)
	$(VENV)/bin/python -m bench.soak

lock: $(UV) ## Re-resolve uv.lock and the layer's requirements
	$(UV) lock --python $(PY313)
	$(MAKE) layer-requirements

layer-requirements: $(UV)
	$(UV) export --frozen --no-dev --no-emit-project --format requirements-txt -o layers/deps/requirements.txt --quiet

clean: ## Remove virtualenvs and build output
	rm -rf $(VENV) $(SAM_VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
