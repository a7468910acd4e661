"""The per-key token bucket over HTTP: headers on every response, the documented 429."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sim_http import assert_error_envelope

from causely_incidentio.simulator import Simulator

pytestmark = pytest.mark.integration


@pytest.fixture
async def small() -> AsyncIterator[Simulator]:
    # refill so slow that no token comes back during the test, however slow the machine
    async with Simulator(rate_limit_capacity=3, rate_limit_refill=0.01) as simulator:
        yield simulator


def http(sim: Simulator, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)


async def test_rate_limit_headers_on_every_authenticated_response(small: Simulator) -> None:
    async with http(small, "a") as client:
        responses = [await client.get("/v1/identity"), await client.get("/v2/incidents/404"),
                     await client.post("/v2/incidents", json={})]
    assert [r.status_code for r in responses] == [200, 404, 422]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0"]
    assert [r.headers["X-RateLimit-Used"] for r in responses] == ["1", "2", "3"]
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"3, 3;window=300"}
    assert all(int(r.headers["X-RateLimit-Reset"]) > 1_700_000_000 for r in responses)


async def test_an_empty_bucket_answers_the_documented_429(small: Simulator) -> None:
    async with http(small, "a") as client:
        for _ in range(3):
            assert (await client.get("/v1/identity")).status_code == 200
        response = await client.get("/v1/identity")
    body = assert_error_envelope(response, 429, "too_many_requests")
    assert body["errors"][0]["code"] == "too_many_requests"
    assert body["rate_limit"]["name"] == "api_key"
    assert body["rate_limit"]["limit"] == 3 and body["rate_limit"]["remaining"] == 0
    retry_at = datetime.strptime(body["rate_limit"]["retry_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert retry_at > datetime.now(UTC)
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert list(body) == ["type", "status", "request_id", "rate_limit", "errors"]


async def test_a_rejected_create_creates_nothing(small: Simulator) -> None:
    async with http(small, "a") as client:
        for _ in range(3):
            await client.get("/v1/identity")
        response = await client.post("/v2/incidents", json={"idempotency_key": "k", "visibility": "public"})
    assert response.status_code == 429
    assert small.incidents() == []


async def test_each_key_has_its_own_bucket(small: Simulator) -> None:
    async with http(small, "a") as first, http(small, "b") as second:
        for _ in range(3):
            await first.get("/v1/identity")
        assert (await first.get("/v1/identity")).status_code == 429
        assert (await second.get("/v1/identity")).status_code == 200
