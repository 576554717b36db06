# Quorra developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/quorra
export QUORRA_API_KEY ?= dev-api-key-change-in-production
export QUORRA_HTTP_ADDR ?= :8080

.PHONY: help install dev run migrate test test-fast lint fmt proto clean soak bench-peers

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## Create the venv and install Quorra with its dev tools

dev: install ## Run everything locally (embedded PostgreSQL and Redis, demo workers); Ctrl-C stops
	env -u DATABASE_URL -u REDIS_URL -u QUORRA_API_KEY -u QUORRA_HTTP_ADDR $(VENV)/bin/quorra-server --dev

run: install ## Start the server against local Postgres (creates the database if missing)
	@psql "$$(echo $(DATABASE_URL) | sed 's#/[^/]*$$#/postgres#')" -qtAc "SELECT 1 FROM pg_database WHERE datname='quorra'" | grep -q 1 \
		|| psql "$$(echo $(DATABASE_URL) | sed 's#/[^/]*$$#/postgres#')" -qc "CREATE DATABASE quorra"
	$(VENV)/bin/quorra-server

migrate: install ## Apply database migrations
	$(VENV)/bin/quorra-server migrate

test: install ## Run the whole test suite (needs local Postgres and Redis)
	$(VENV)/bin/python -m pytest -q

test-fast: install ## Unit tests only (no services)
	$(VENV)/bin/python -m pytest -q tests/unit

lint: install ## ruff, mypy --strict (quorra, tests, bench) and the import-layer contracts
	$(VENV)/bin/ruff check quorra tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

BENCH_DATABASE ?= quorra_bench

bench-deps: install
	$(VENV)/bin/pip install -q -e '.[dev,bench]'
	@command -v h2load >/dev/null || { echo "installing h2load (nghttp2-client)"; \
		$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) apt-get install -y -qq nghttp2-client >/dev/null; }
	@psql postgresql://postgres@127.0.0.1:5432/postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='$(BENCH_DATABASE)'" | grep -q 1 \
		|| psql postgresql://postgres@127.0.0.1:5432/postgres -qc "CREATE DATABASE $(BENCH_DATABASE)"

bench: bench-deps ## Run every benchmark (~30 min; needs h2load, pgbench) -> bench/results/
	cd bench && ../$(PY) run_all.py

bench-quick: bench-deps ## Indicative benchmark figures in a few minutes
	cd bench && ../$(PY) run_all.py --quick

PEERS_ARGS ?= --jobs 10000 --rounds 3

bench-peers: install ## Quorra beside Huey, Dramatiq, Celery, PgQueuer, streaQ, same job bodies (~25 min; not in CI) -> bench/results/peers.md
	$(VENV)/bin/pip install -q -e '.[dev,bench-peers]'
	cd bench && ../$(PY) peers_bench.py $(PEERS_ARGS)

soak: install ## Chaos soak, 10 min (not in CI): faults under load, then lost/duplicate counts -> bench/results/soak.json
	$(PY) bench/soak.py --minutes $${SOAK_MINUTES:-10}

fmt: install ## Format and auto-fix
	$(VENV)/bin/ruff check --fix quorra tests bench

proto: install ## Regenerate the committed gRPC code from proto/quorra.proto
	$(PY) proto/generate.py

clean: ## Remove caches
	rm -rf .pytest_cache .mypy_cache .ruff_cache
