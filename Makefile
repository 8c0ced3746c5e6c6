# One entry point for a fresh machine. `make help` lists the targets.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PYTEST  := $(BIN)/python -m pytest

.PHONY: help setup setup-e2e test test-fast lint run stop clean

help:  ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' Makefile | sed 's/:.*## /\t/'

setup: $(VENV)/.installed  ## Install everything the project needs (idempotent)

$(VENV)/.installed: pyproject.toml functions/requirements.txt scripts/setup.sh
	PY=$(PY) VENV=$(VENV) bash scripts/setup.sh
	touch $@

setup-e2e: setup  ## firebase-tools (npm ci), Java >= 21, functions/venv: what `make run` and the e2e tier need
	VENV=$(VENV) bash scripts/setup_e2e.sh

test: setup setup-e2e  ## Run every test tier: unit, emulator, end to end (what CI runs)
	$(PYTEST)

test-fast: setup  ## Unit tier only: no emulator, no heavy training
	$(PYTEST) -m "not emulator and not e2e and not heavy"

lint: setup  ## ruff over the whole tree
	$(BIN)/ruff check .

run: setup setup-e2e  ## Run the system locally: emulators + our function + the app (headless without a display)
	$(BIN)/python scripts/run_local.py $(RUN_ARGS)

stop:  ## Stop what `make run` started
	$(BIN)/python scripts/run_local.py --stop

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) functions/venv .pytest_cache .ruff_cache
