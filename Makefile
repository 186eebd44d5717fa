# `make run` and `make test` each set up what is missing, on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

export ANJU_DATA_DIR ?= ./var

.PHONY: install run test lint unit integration e2e clean bench

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: install
	ANJU_DEMO=1 $(BIN)/anju demo run

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Tests run in parallel, one worker per core.
test: lint
	$(BIN)/pytest -n auto

unit: install
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

bench: install
	$(BIN)/python bench/rebuild.py --store postgres
	$(BIN)/python bench/verify.py --store postgres
	$(BIN)/python bench/deadlines.py --store postgres
