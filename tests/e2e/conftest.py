"""The e2e tier: one real Kubernetes API server per session, a fresh namespace per test.

Every test under tests/e2e is marked ``e2e`` here, so ``pytest -m "not e2e"`` skips the tier without each
file having to remember the marker. Missing binaries fail loudly (``run `make k8s```) rather than skip:
a silently skipped tier looks exactly like a passing one.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubeapi import KubeAPIServer, KubeAPIUnavailable

E2E_DIR = Path(__file__).resolve().parent
ROOT = E2E_DIR.parents[1]
CRD_FILE = ROOT / "crds" / "incidentdestinations.yaml"
CRD_NAME = "incidentdestinations.notifications.causely.ai"
FINDINGS_CRD_FILE = ROOT / "crds" / "findings.yaml"
FINDINGS_CRD_NAME = "findings.notifications.causely.ai"


@pytest.hookimpl(tryfirst=True)  # before -m filters on the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def kube_api() -> Iterator[KubeAPIServer]:
    """One control plane for the whole session (starting one costs a few seconds and ~500 MB)."""
    try:
        server = KubeAPIServer().start()
    except KubeAPIUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def namespace(kube_api: KubeAPIServer) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards (without waiting for finalization)."""
    name = f"e2e-{secrets.token_hex(4)}"
    kube_api.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kube_api.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def incidentdestination_crd(kube_api: KubeAPIServer) -> str:
    """The project's CRDs installed and Established (cluster-wide, so once per session); returns its name."""
    # --validate=false: kubectl 1.20's client-side check does not know the CRD's x-kubernetes-validations (CEL,
    # Kubernetes 1.23+) and refuses the file; the 1.20 server itself accepts it and ignores the rules
    # (tests/e2e/test_crd_and_manifests.py::test_the_1_20_server_accepts_the_crd_with_its_cel_rules).
    kube_api.kubectl("apply", "--validate=false", "-f", str(CRD_FILE), "-f", str(FINDINGS_CRD_FILE))
    kube_api.kubectl("wait", "--for=condition=established", "--timeout=60s", f"crd/{CRD_NAME}",
                     f"crd/{FINDINGS_CRD_NAME}")
    # The server publishes the CRD's schema to /openapi/v2 a moment after Established; kubectl explain
    # and client-side validation read it from there.
    deadline = time.monotonic() + 60
    while any(kube_api.kubectl("explain", kind, check=False).returncode != 0
              for kind in ("incidentdestination", "finding")):
        if time.monotonic() > deadline:
            pytest.fail("the IncidentDestination schema never appeared in /openapi/v2", pytrace=False)
        time.sleep(0.2)
    return CRD_NAME
