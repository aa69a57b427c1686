# Two commands do all the set-up: `make demo` (the main job, offline) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# the main job needs no torch; the tests also exercise the sentence-transformers backend
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/muni-crawl demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run_all.py

# regenerate docs/settings.md and docs/cli.md from the code (tests/test_docs.py checks them)
docs: $(VENV)/.installed
	$(BIN)/python scripts/make_docs.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache muni_crawl.db muni_crawl.db-wal muni_crawl.db-shm .locks
