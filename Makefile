# codex-pipeline: `make run` (whole pipeline locally) and `make test` (everything CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Rebuild the venv only when the dependency declaration changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
PYTEST_WORKERS ?= 2
export CODEX_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: help venv run test check lint typecheck unit proto bench bench-review bench-dispatch bundle clean bench-steps

help:
	@echo "make run    - run the pipeline locally on its embedded defaults"
	@echo "make test   - lint, type-check and run every test (what CI runs)"
	@echo "make lint   - ruff + manifest lint"
	@echo "make bench  - run the benchmarks in bench/"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

run: venv
	$(BIN)/codex-pipeline dev

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check lib functions tests bench proto/generate.py || true
	$(BIN)/codex-pipeline lint

# Self-contained func build roots under build/func/<name>/ (deploy: func deploy --path build/func/<name>).
bundle: venv
	$(BIN)/codex-pipeline bundle

typecheck: venv
	$(BIN)/mypy

test: venv
	$(BIN)/ruff check .
	$(BIN)/codex-pipeline lint
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

proto: venv
	$(BIN)/python proto/generate.py

bench: venv
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/route.py

# Review delivery latency with the fake GitHub answering in 0 and 50 ms.
bench-review: venv
	$(BIN)/python bench/review.py --append

# dispatch-planning at 100 deliveries/s, its ceiling and the 50-copy duplicate storm (SQLite, PostgreSQL).
bench-dispatch: venv
	$(BIN)/python bench/dispatch.py --append

# Cold start under func-python (func deploy's runtime) beside functions-framework.
bench-func: venv
	$(BIN)/python bench/func_cold_start.py --runs 7 --append

clean:
	rm -rf $(VENV) .codex-pipeline .pytest_cache .mypy_cache .ruff_cache

# Workflow steps: cold start, Codex event parsing, overhead of a step around Codex.
bench-steps: venv
	$(BIN)/python bench/steps.py --runs 7 --append
