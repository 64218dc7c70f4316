# Two commands matter: `make run` (set up, then the Part 1 study) and `make test` (set up, then the tests).
# Set-up is idempotent: a venv in .venv, the package with its pinned CPU torch, and real Fashion-MNIST.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup data run test test-fast test-slow notebook bench compare study clean

setup: $(INSTALLED) data

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

data: $(INSTALLED)
	bash scripts/install-data.sh $(BIN)/smallcnn

run: setup
	$(BIN)/smallcnn train fashion-mnist --overwrite

notebook: setup
	$(BIN)/smallcnn notebook --out notebook/smallcnn.ipynb

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
