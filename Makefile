# Memoturn: everything runs from a virtual environment this Makefile builds itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-installed
STAMP  := $(VENV)/.installed

.PHONY: install install-runtime run test test-fast bench bench-mem0 demos lint format freeze clean

## install: the whole stack (runtime, tests, linters); install-runtime: what a node needs
install: $(STAMP)
install-runtime: $(RUNTIME)

$(RUNTIME): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## run: start a node on 127.0.0.1:8765 with data under ./.memoturn (runtime packages only)
run: install-runtime
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

## bench-mem0: Memoturn beside mem0 on the same LoCoMo turns and questions (not in `make
## test`; mem0 gets its own environment, .venv-mem0, from bench/mem0/requirements.txt)
LOCOMO ?= ../shared/data/locomo10.json
MEM0_VENV := .venv-mem0
MEM0_STAMP := $(MEM0_VENV)/.installed

$(MEM0_STAMP): bench/mem0/requirements.txt
	$(PYTHON) -m venv $(MEM0_VENV)
	$(MEM0_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MEM0_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(MEM0_VENV)/bin/python -m pip install --quiet -r bench/mem0/requirements.txt
	touch $(MEM0_STAMP)

bench-mem0: install $(MEM0_STAMP)
	$(BIN)/python -m memoturn.bench.mem0_side --data $(LOCOMO) --mem0-python $(MEM0_VENV)/bin/python --out bench-results

## demos: run every demo in examples/ (against MEMOTURN_URL, else a throwaway node)
demos: install
	$(BIN)/python examples/run_all.py

lint: install
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples

format: install
	$(BIN)/ruff check --fix src tests examples
	$(BIN)/ruff format src tests examples

## freeze: re-pin requirements-dev.txt from the current environment (the packages that
## requirements.txt does not pin already); edit requirements.txt by hand for runtime pins
freeze: install
	{ echo "# Pinned versions of the packages the tests and the linters add (make test)."; \
	  echo "# Regenerate with: make freeze"; \
	  echo "-r requirements.txt"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^memoturn' \
	    | grep -v -x -i -F -f requirements.txt; } > requirements-dev.txt.new
	mv requirements-dev.txt.new requirements-dev.txt

clean:
	rm -rf $(VENV) $(MEM0_VENV) .pytest_cache .ruff_cache
