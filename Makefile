# The two commands: `make demo` and `make test`. Both create .venv when needed, from the lock file.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The venv is built with uv from requirements.lock: the exact versions (and sha256 hashes) that were tested,
# every extra make demo / make test need included. pyproject.toml keeps the ranges. Byte-compiled at install
# (--compile-bytecode, ~65 s here): where PYTHONDONTWRITEBYTECODE is set (as on these CI machines) nothing would cache
# what Python compiles, and every stage kernel and subprocess would recompile pandas and scikit-learn from source
# (a ~2x slower `import pandas, sklearn`, measured 11.0-12.0 s vs 5.5-6.8 s).
# uv comes from PyPI into a bootstrap folder when it is not on PATH; it uses the indexes pip is configured with.
LOCK       := requirements.lock
EXTRAS     := test sql postgres dask
UV_VERSION := 0.13.9
UV_HOME    ?= $(HOME)/.cache/millpond/uv-$(UV_VERSION)
UV         ?= $(shell command -v uv 2>/dev/null || echo $(UV_HOME)/bin/uv)
INDEX_ARGS  = $(shell $(PYTHON) scripts/pip_index_args.py)

.PHONY: demo test lint lab notebooks clean-demo venv lock

venv: $(STAMP)

$(UV_HOME)/bin/uv:
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(STAMP): $(LOCK) pyproject.toml | $(UV)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "millpond needs Python 3.11, found " + sys.version.split()[0]'
	$(UV) venv --quiet --allow-existing --seed --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python --require-hashes $(INDEX_ARGS) $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps $(INDEX_ARGS) -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name millpond --display-name "Python 3 (millpond)"
	$(BIN)/python scripts/lab_settings.py $(VENV)
	@touch $(STAMP)

# Re-resolve the ranges in pyproject.toml to the newest versions and pin them (with hashes) in requirements.lock;
# run the tests, then commit the lock. `make lock UPGRADE=` keeps the pins that still satisfy the ranges.
UPGRADE ?= --upgrade
lock: | $(UV)
	$(UV) pip compile pyproject.toml $(addprefix --extra ,$(EXTRAS)) --python-version 3.11.5 --universal \
		--generate-hashes --custom-compile-command "make lock" --quiet $(UPGRADE) $(INDEX_ARGS) -o $(LOCK)

demo: $(STAMP)
	$(BIN)/millpond demo

# The suite on TEST_WORKERS pytest-xdist workers (one per core here; each test keeps its own temporary workspace,
# worksteal evens out the long cycle tests); `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal)

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
