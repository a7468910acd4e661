"""The ``sdk`` tier: incident.io's official Python SDK (PyPI ``incident-io``) as the API contract.

Every test here is marked ``sdk`` (``make unit`` leaves the tier out; ``make test`` runs it). The SDK is
generated from incident.io's live schema, so what it sends and what it can parse is the best stand-in
for the real API this project can run on loopback.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from incident_io import AuthenticatedClient

from causely_incidentio.simulator import Simulator

SDK_DIR = Path(__file__).resolve().parent
if str(SDK_DIR) not in sys.path:
    sys.path.insert(0, str(SDK_DIR))

from sdk_schema import TOKEN  # noqa: E402  (importable once SDK_DIR is on the path)


@pytest.hookimpl(tryfirst=True)  # before -m filters on the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SDK_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.sdk)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A simulator with strict request validation and response validation (its defaults)."""
    async with Simulator(tokens=[TOKEN]) as simulator:
        yield simulator
    assert simulator.response_problems == [], "the simulator sent a response that does not match the schema"


@pytest.fixture
async def sdk(sim: Simulator) -> AsyncIterator[AuthenticatedClient]:
    """The SDK's client on the simulator; undocumented statuses raise instead of parsing to None."""
    client = AuthenticatedClient(base_url=sim.base_url, token=TOKEN, raise_on_unexpected_status=True)
    async with client:
        yield client
