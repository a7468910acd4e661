"""The modern tier: the project's CRDs on a current (1.36) Kubernetes CRD API server, one per session.

Every test under tests/modern is marked ``modern`` here (``make unit`` deselects it). Missing binaries fail
loudly with "run `make modern`" instead of skipping: a silently skipped tier looks exactly like a passing
one. The server serves CRDs and custom resources only (no namespaces, Secrets, Events, RBAC): see
modernapi.py. A failed test's report carries the last lines of the etcd and server logs.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from modernapi import ModernAPIServer, ModernAPIUnavailable, ModernCRDs

MODERN_DIR = Path(__file__).resolve().parent
ROOT = MODERN_DIR.parents[1]
CRD_FILES = (ROOT / "crds" / "incidentdestinations.yaml", ROOT / "crds" / "findings.yaml")
CRD_NAMES = ("incidentdestinations.notifications.causely.ai", "findings.notifications.causely.ai")


def _in_tier(item: pytest.Item) -> bool:
    return MODERN_DIR in Path(str(item.path)).resolve().parents


@pytest.hookimpl(tryfirst=True)  # before -m filters on the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _in_tier(item):
            item.add_marker(pytest.mark.modern)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    """Attach the server's log tail to a failed tier test's report."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("modern_api")
    if report.failed and isinstance(server, ModernAPIServer):
        report.sections.append(("modern API server logs", server.logs()))


@pytest.fixture(scope="session")
def modern_api() -> Iterator[ModernAPIServer]:
    """etcd + the 1.36 CRD API server on free loopback ports (TLS, token); started once per session."""
    try:
        server = ModernAPIServer().start()
    except ModernAPIUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def modern_crds(modern_api: ModernAPIServer) -> ModernCRDs:
    """crds/incidentdestinations.yaml and crds/findings.yaml applied, Established, and in OpenAPI v3."""
    files = [arg for path in CRD_FILES for arg in ("-f", str(path))]
    applied = modern_api.kubectl("apply", "--server-side", "--field-manager=modern-tier", *files)
    modern_api.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{name}" for name in CRD_NAMES)
    )
    # The schema reaches /openapi/v3 (what kubectl explain reads) a moment after Established.
    deadline = time.monotonic() + 60
    while any(modern_api.kubectl("explain", kind, check=False).returncode != 0
              for kind in ("incidentdestination", "finding")):
        if time.monotonic() > deadline:
            pytest.fail("the CRD schemas never appeared in the server's OpenAPI", pytrace=False)
        time.sleep(0.2)
    return ModernCRDs(names=CRD_NAMES, apply_stderr=applied.stderr)
