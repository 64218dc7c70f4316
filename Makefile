# Two commands matter: `make run` (set up, then the Part 1 study) and `make test` (set up, then the tests).
# Set-up is idempotent: a Python 3.12 venv in .venv, the package with its pinned torch/torchvision pair,
# and real Fashion-MNIST. PYTHON=/path/to/python3.12 picks the interpreter (scripts/find-python.sh).
PY := $(shell bash scripts/find-python.sh)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
NOTEBOOK_ARGS ?=
BENCH_ARGS ?=

.PHONY: setup data run lint test test-fast test-slow notebook bench compare study clean

setup: $(INSTALLED) data

$(INSTALLED): pyproject.toml
	@test -n "$(PY)" || { echo "error: set-up needs Python 3.12 (see the line above)" >&2; exit 1; }
	@# A venv of another Python (an older checkout's 3.11) is replaced, not reused.
	$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null || { rm -rf $(VENV); $(PY) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

data: $(INSTALLED)
	bash scripts/install-data.sh $(BIN)/smallcnn

run: setup
	$(BIN)/smallcnn train fashion-mnist --overwrite

notebook: setup
	$(BIN)/smallcnn notebook --out notebook/smallcnn.ipynb $(NOTEBOOK_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .

test: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup lint
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
