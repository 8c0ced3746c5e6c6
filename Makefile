# One entry point for a fresh machine. `make help` lists the targets.
PY      ?= python3
VENV    ?= .venv
DEVICE_MODEL ?= minilm-l2
BIN     := $(VENV)/bin
PYTEST  := $(BIN)/python -m pytest

.PHONY: help setup setup-run setup-e2e test test-fast lint run stop models device-model clean

help:  ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' Makefile | sed 's/:.*## /\t/'

setup: $(VENV)/.installed  ## Install everything the project needs, torch included (idempotent)

$(VENV)/.installed: pyproject.toml functions/requirements.txt scripts/setup.sh scripts/torch_source.py
	PY=$(PY) VENV=$(VENV) bash scripts/setup.sh
	touch $@ $(VENV)/.installed-run

setup-run: $(VENV)/.installed-run  ## Only what `make run` needs: the serving stack and the app, no torch

$(VENV)/.installed-run: pyproject.toml functions/requirements.txt scripts/setup.sh
	PY=$(PY) VENV=$(VENV) bash scripts/setup.sh run
	touch $@

setup-e2e: setup-run  ## firebase-tools (npm ci), Java >= 21, functions/venv, the Firestore emulator JAR
	VENV=$(VENV) bash scripts/setup_e2e.sh

test: setup setup-e2e  ## Run every test tier: unit, emulator, end to end (what CI runs)
	$(PYTEST)

test-fast: setup  ## Unit tier only: no emulator, no heavy training
	$(PYTEST) -m "not emulator and not e2e and not heavy"

lint: setup  ## ruff over the whole tree
	$(BIN)/ruff check .

run: setup-run setup-e2e  ## Run the system locally: emulators + our function + the app (headless without a display)
	$(BIN)/python scripts/run_local.py $(RUN_ARGS)

stop:  ## Stop what `make run` started
	$(BIN)/python scripts/run_local.py --stop

models: setup  ## Rebuild every shipped model from the data into runs/rebuilt-store (hours on 2 cores)
	$(BIN)/python scripts/rebuild_models.py $(MODELS_ARGS)

device-model: setup-run  ## Bundle the on-device model with the app (DEVICE_MODEL=minilm-l2; docs/APP.md)
	$(BIN)/python -m mobile_app.ondevice $(DEVICE_MODEL)

clean:  ## Remove the virtual environment and caches
	rm -rf $(VENV) functions/venv .pytest_cache .ruff_cache
