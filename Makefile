# Memoturn: everything runs from a virtual environment this Makefile builds itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast bench demos lint format freeze clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## run: start a node on 127.0.0.1:8765 with data under ./.memoturn
run: install
	$(BIN)/memoturn serve --data .memoturn

## test: the whole test suite (unit, integration against real servers on loopback)
test: install
	$(BIN)/python -m pytest -q

## test-fast: skip the slow and integration tests
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not integration"

## bench: the benchmark; figures go to stdout and bench-results/
bench: install
	$(BIN)/memoturn bench

## demos: run every demo in examples/ (against MEMOTURN_URL, else a throwaway node)
demos: install
	$(BIN)/python examples/run_all.py

lint: install
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples

format: install
	$(BIN)/ruff check --fix src tests examples
	$(BIN)/ruff format src tests examples

## freeze: re-pin requirements.txt from the current environment
freeze: install
	{ echo "# Pinned versions of every package Memoturn and its tests use (runtime and dev)."; \
	  echo "# Regenerate with: make freeze"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^memoturn'; } > requirements.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
