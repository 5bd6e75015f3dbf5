# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= $(or $(YOLOARENA_SHARED),../shared)

.PHONY: install test lint format demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,export,edge,log,hub]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check yoloarena tests benchmarks hubconf.py
	$(BIN)/ruff format --check yoloarena tests benchmarks hubconf.py

format: install
	$(BIN)/ruff format yoloarena tests benchmarks hubconf.py
	$(BIN)/ruff check --fix yoloarena tests benchmarks hubconf.py

test: install lint
	YOLOARENA_SHARED=$(SHARED) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The main job: the arena on the built-in synthetic data (train yolov5n and damoyolo-ns, validate
# both under one protocol, benchmark them, write runs/compare/exp/report.html). About 5 minutes
# on 2 CPU cores; rerunning continues or reuses what is done.
demo: install
	$(BIN)/yoloarena compare

bench: install
	YOLOARENA_SHARED=$(SHARED) $(BIN)/python benchmarks/predict.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
