# The two commands: `make demo` and `make test`. Both create .venv when needed.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint lab notebooks clean-demo venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "millpond needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name millpond --display-name "Python 3 (millpond)"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/millpond demo

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff (lint + format), mypy and the import-linter layers contract; .ci/run runs it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. --ServerApp.ip=127.0.0.1 $(LAB_FLAGS)

# JupyterLab on loopback that asks nothing of the network (no update checks, no PyPI extension manager);
# it refuses root without --allow-root (containers run as root).
LAB_FLAGS := --LabApp.extension_manager=readonly --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	$(if $(filter 0,$(shell id -u)),--allow-root)

notebooks: $(STAMP)
	$(BIN)/python scripts/build_notebooks.py

# Remove what the demo generated (raw demo data, marts, models, run records); tracked READMEs stay.
clean-demo:
	git clean -fdX -- runs model_store feature_marts logs
