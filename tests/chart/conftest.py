"""The chart tier: the pinned helm 3 and kubectl 1.34 (``make helm``) on the Helm chart and the kustomize base.

Every test under tests/chart is marked ``chart`` here, so ``make unit`` (``-m "not ... and not chart"``) stays
fast without each file having to remember the marker. No API server: the server-side checks are in tests/e2e.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHART_TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m filters on the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if CHART_TESTS in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.chart)
