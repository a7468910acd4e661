"""Fixtures for the incident.io client tests: fake time, isolated pools and buckets, a client factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from incidentio_fakes import BASE, TOKEN, FakeTime

from causely_incidentio.incidentio import IncidentIOClient, RetryPolicy, TokenBucket, close_pools
from causely_incidentio.incidentio.ratelimit import clear_buckets


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(autouse=True)
async def _isolate() -> AsyncIterator[None]:
    clear_buckets()
    yield
    await close_pools()
    clear_buckets()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Callable[..., IncidentIOClient]:
    """A client on fake time with its own bucket; keyword arguments override the defaults."""

    def make(**overrides: Any) -> IncidentIOClient:
        options: dict[str, Any] = {
            "base_url": BASE,
            "retry": RetryPolicy(max_attempts=5, max_total_seconds=100.0, base_backoff=1.0, max_backoff=8.0),
            "bucket": TokenBucket(clock=fake_time.clock, sleep=fake_time.sleep),
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "wall_clock": fake_time.wall,
        }
        options.update(overrides)
        token = options.pop("token", TOKEN)
        return IncidentIOClient(token, **options)

    return make
