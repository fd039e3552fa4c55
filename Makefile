# 智慧后勤 (houqin) — set-up, demo and tests. GNU make; see docs/development.md.
#
#   make demo          set up, create demo data and run the app on http://127.0.0.1:8000
#   make test          everything CI runs: lint, checks, tests on SQLite, browser tests, tests on PostgreSQL
#   make help          all targets

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.NOTPARALLEL:
.DELETE_ON_ERROR:

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOUQIN := $(BIN)/houqin
PYTEST_WORKERS ?= 2
# loadscope: each test module runs in one worker, so its module-scoped fixtures (the query budgets' measurements,
# a browser per module) are built once, not once per worker.
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope
SERVE_ARGS ?=

PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
VENDOR_STAMP := houqin/static/vendor/versions.json

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup demo lint check test test-sqlite test-pg test-browser browser-prereqs bench bench-full clean

help:
	@echo "智慧后勤 make targets:"
	@echo "  make setup         create .venv, install Python and front-end packages, copy assets"
	@echo "  make demo          setup + migrate + demo data + collectstatic, then serve on http://127.0.0.1:8000"
	@echo "  make test          lint, checks, tests on SQLite, browser tests, tests on a throwaway PostgreSQL"
	@echo "  make lint          ruff check"
	@echo "  make check         Django system checks, migrations up to date, API schema up to date"
	@echo "  make test-sqlite   pytest on SQLite (no browser tests)"
	@echo "  make test-pg       pytest on a throwaway PostgreSQL cluster (no browser tests)"
	@echo "  make test-browser  browser tests (Playwright + Debian Chromium) on SQLite"
	@echo "  make bench         houqin bench --quick (≤ 10 min on 2 cores) → artifacts/bench.json; bench-full: the county"
	@echo "  make clean         remove .venv, node_modules, copied assets, caches (keeps data/)"

# --- set-up -------------------------------------------------------------------------------------------------

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "houqin needs Python 3.11, not " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

# npm ci runs only when node_modules is missing or package.json / package-lock.json changed.
# --ignore-scripts: the front-end packages are plain files; no install script may download anything.
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

$(VENDOR_STAMP): $(NODE_STAMP) scripts/vendor.py
	$(PYTHON) scripts/vendor.py

setup: $(PY_STAMP) $(VENDOR_STAMP)

# --- demo -----------------------------------------------------------------------------------------------------

demo: setup
	$(HOUQIN) migrate --noinput
	$(HOUQIN) demo
	$(HOUQIN) collectstatic --noinput --verbosity 0
	@# The background-job worker runs beside the web server and stops with it.
	@$(HOUQIN) worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; $(HOUQIN) serve $(SERVE_ARGS)

# --- checks and tests ----------------------------------------------------------------------------------------
# Each leg fails the build when it fails. The PostgreSQL leg runs last, so the last line of `make test` is a
# pytest summary of a leg that always has tests. Checks and tests use a temporary data directory, never data/.

lint: $(PY_STAMP)
	$(BIN)/ruff check .

check: $(PY_STAMP)
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; export HOUQIN_DATA_DIR="$$tmp"; unset DATABASE_URL; \
	for command in "check" "makemigrations --check --dry-run" "apischema --check"; do \
		echo "houqin $$command"; $(HOUQIN) $$command; \
	done

test-sqlite: setup
	env -u DATABASE_URL $(PYTEST) -m "not browser"

test-pg: setup
	scripts/pg_throwaway.sh $(PYTEST) -m "not browser"

browser-prereqs:
	scripts/ensure_chromium.sh

# Exit status 5 means no test was collected: accepted here only, while there are no browser tests.
test-browser: setup browser-prereqs
	env -u DATABASE_URL $(PYTEST) -m browser || [ $$? -eq 5 ]

test: lint check test-sqlite test-browser test-pg

# --- benchmark (docs/performance.md) ------------------------------------------------------------------------------
bench: setup
	scripts/ensure_wrk.sh
	@mkdir -p artifacts
	env -u DATABASE_URL $(BIN)/houqin bench --quick --json artifacts/bench.json

bench-full: setup
	scripts/ensure_wrk.sh
	@mkdir -p artifacts
	env -u DATABASE_URL $(BIN)/houqin bench --json artifacts/bench-full.json

# --- clean-up -------------------------------------------------------------------------------------------------

clean:
	rm -rf $(VENV) node_modules houqin/static/vendor staticfiles .pytest_cache .ruff_cache artifacts build dist
	rm -rf *.egg-info
	find . -name __pycache__ -type d -not -path './data/*' -prune -exec rm -rf {} +
