# Two commands do all the set-up on a fresh machine:
#   make demo   - virtual environment, install, replay the bundled scenario
#   make test   - virtual environment, install, throwaway PostgreSQL, lint, types, tests
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench postgres-server clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tisa demo --live scenarios/korea-japan-2019.toml

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src

postgres-server:
	@scripts/ensure-postgres.sh

test: $(STAMP) lint postgres-server
	scripts/run-tests.sh $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
