# One command installs everything and runs the tests; one runs the demo.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PEERS := .venv-peers
# pip's own noise (index locations, version nags) is not ours to read.
LINT_PATHS := $(wildcard reconciler tests bench examples)
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: install peers lint test demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[dev]'
	touch $@

# Peer tools run against the emulator from virtualenvs of their own, so that
# their pins never shape ours.
peers: $(PEERS)/ecs-deploy/.installed

$(PEERS)/ecs-deploy/.installed:
	$(PYTHON) -m venv $(PEERS)/ecs-deploy
	$(PEERS)/ecs-deploy/bin/python -m pip --disable-pip-version-check -q install 'ecs-deploy==1.17.0'
	touch $@

lint: install
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: install peers lint
	$(PY) -m pytest

demo: install
	$(PY) examples/apply_sample_repo.py

clean:
	rm -rf $(VENV) $(PEERS) .pytest_cache .mypy_cache .ruff_cache
