"""Fixtures for tests that talk HTTP to a real simulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from causely_incidentio.simulator import Simulator

TOKEN = "sim-test-token-5f1c"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator
    assert simulator.response_problems == [], "the simulator sent a response that does not match the spec"


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=sim.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10.0
    ) as http:
        yield http
