# codex-pipeline: `make run` (whole pipeline locally) and `make test` (everything CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One venv, filled in two steps: `make run` installs what running needs (the library and the
# functions-framework runtime), `make test` adds the test and lint toolchain to the same venv.
# Each step is redone only when the dependency declaration changes.
HASH := $(shell sha256sum pyproject.toml | cut -c1-12)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(HASH)
PYTEST_WORKERS ?= 2
export CODEX_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: help venv run test check lint typecheck unit proto bench bench-review bench-dispatch bundle clean bench-steps bench-func bench-func-cold bench-func-instructions

help:
	@echo "make run    - run the pipeline locally on its embedded defaults (installs only what running needs)"
	@echo "make test   - lint, type-check and run every test (what CI runs)"
	@echo "make lint   - ruff, manifest lint and the import contracts (lint-imports)"
	@echo "make bench  - run the benchmarks in bench/"

$(RUN_STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
	  echo "first run: building the environment in $(VENV) (runtime packages only; make test adds the rest)"; \
	  $(PYTHON) -m venv $(VENV); \
	else echo "updating the environment in $(VENV) (pyproject.toml changed)"; fi
	$(BIN)/python -m pip install --progress-bar on --disable-pip-version-check -e '.[run]'
	@rm -f $(VENV)/.installed-run-*
	@touch $@

$(DEV_STAMP): $(RUN_STAMP)
	@echo "adding the test and lint toolchain to $(VENV)"
	$(BIN)/python -m pip install --progress-bar on --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-dev-*
	@touch $@

# The whole development environment (tests, linters, type checker).
venv: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/codex-pipeline dev

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/codex-pipeline lint
	$(BIN)/lint-imports --no-cache

# Self-contained func build roots under build/func/<name>/ (deploy: func deploy --path build/func/<name>).
bundle: venv
	$(BIN)/codex-pipeline bundle

# mypy over the library, tests and bench, then each function folder on its own (every folder has a
# main.py and a function/ package, so one run would see five modules named main and function).
MYPY_FUNCTIONS = for f in functions/*/; do $(BIN)/mypy $${f}main.py $${f}function/__init__.py || exit 1; done

typecheck: venv
	$(BIN)/mypy
	@$(MYPY_FUNCTIONS)

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/codex-pipeline lint
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	@$(MYPY_FUNCTIONS)
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

# ingest-webhook and the ingest -> route-task chain under func-python beside bare func-python (issue 14).
bench-func: venv
	$(BIN)/python bench/func_runtimes.py --seconds 10 --append
	$(BIN)/python bench/emit_floor.py --append
	$(BIN)/python bench/delivery_cpu.py --append
	$(BIN)/python bench/sink_clients.py --append
	$(BIN)/python bench/event_loop_ab.py --append
	$(BIN)/python bench/decide_bound.py --append

# The same chain in instructions per delivery (valgrind's callgrind): repeatable where CPU seconds drift.
bench-func-instructions: venv
	$(BIN)/python bench/func_instructions.py --deliveries 200 --append

# Cold start under func-python (func deploy's runtime) beside functions-framework.
bench-func-cold: venv
	$(BIN)/python bench/func_cold_start.py --runs 7 --append

clean:
	rm -rf $(VENV) .codex-pipeline .pytest_cache .mypy_cache .ruff_cache

# Workflow steps: cold start, Codex event parsing, overhead of a step around Codex.
bench-steps: venv
	$(BIN)/python bench/steps.py --runs 7 --append
