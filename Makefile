# One entry point for a fresh machine. `make help` lists the targets.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PYTEST  := $(BIN)/python -m pytest

.PHONY: help setup test test-fast lint run stop clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

setup: $(VENV)/.installed  ## Install everything the project needs (idempotent)

$(VENV)/.installed: pyproject.toml functions/requirements.txt scripts/setup.sh
	PY=$(PY) VENV=$(VENV) bash scripts/setup.sh
	touch $@

test: setup  ## Run every test tier: unit, emulator, end to end (what CI runs)
	$(PYTEST)

test-fast: setup  ## Unit tier only: no emulator, no heavy training
	$(PYTEST) -m "not emulator and not e2e and not heavy"

lint: setup  ## ruff over the whole tree
	$(BIN)/ruff check .

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) functions/venv .pytest_cache .ruff_cache
