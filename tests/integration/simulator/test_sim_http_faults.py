"""Every fault kind, as a client sees it, and that faults are consumed and can be targeted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from sim_http import assert_error_envelope, create

from causely_incidentio.simulator import Simulator

pytestmark = pytest.mark.integration


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll briefly for something the server does after the client has moved on."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def logged_fault(sim: Simulator, kind: str) -> None:
    """Dropped requests are logged when the server side lets go."""
    await until(lambda: any(r.fault == kind for r in sim.requests), f"a {kind} fault in the request log")


@pytest.mark.parametrize(("kind", "type_"), [("500", "api_error"), ("503", "api_error")])
async def test_server_errors(client: httpx.AsyncClient, sim: Simulator, kind: str, type_: str) -> None:
    sim.fail_next(2, kind)
    for _ in range(2):
        assert_error_envelope(await client.get("/v1/identity"), int(kind), type_)
    assert (await client.get("/v1/identity")).status_code == 200
    assert [r.status for r in sim.requests] == [int(kind), int(kind), 200]
    assert [r.fault for r in sim.requests] == [kind, kind, None]


async def test_forced_429_has_the_rate_limit_body_and_headers(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.fail_next(1, "429")
    response = await client.get("/v1/severities")
    body = assert_error_envelope(response, 429, "too_many_requests")
    assert body["rate_limit"]["remaining"] == 0
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert (await client.get("/v1/severities")).status_code == 200


async def test_reset_closes_the_connection_without_a_response(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.fail_next(1, "reset")
    with pytest.raises(httpx.TransportError):
        await client.get("/v1/identity")
    assert (await client.get("/v1/identity")).status_code == 200
    await logged_fault(sim, "reset")
    assert sim.requests[0].status == 0


async def test_timeout_holds_the_request_past_the_client_timeout(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.fail_next(1, "timeout")
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/v1/identity", timeout=0.3)
    assert (await client.get("/v1/identity")).status_code == 200
    await logged_fault(sim, "timeout")


async def test_timeout_drops_the_connection_after_timeout_seconds(sim: Simulator) -> None:
    sim.timeout_seconds = 0.1
    sim.fail_next(1, "timeout")
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": "Bearer t"}) as client:
        with pytest.raises(httpx.TransportError):
            await client.get("/v1/identity", timeout=30)


async def test_stop_releases_a_held_request() -> None:
    sim = Simulator()
    await sim.start()
    sim.fail_next(1, "timeout")
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": "Bearer t"}) as client:
        pending = asyncio.ensure_future(client.get("/v1/identity", timeout=30))
        await until(lambda: sim.faults.pending == [], "the request to be held")
        await sim.stop()
        with pytest.raises(httpx.TransportError):
            await pending


async def test_a_lost_response_after_processing_is_safe_to_retry(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.fail_next(1, "reset", method="POST", path_prefix="/v2/incidents", after_processing=True)
    with pytest.raises(httpx.TransportError):
        await create(client, "alert-7")
    assert len(sim.incidents()) == 1  # processed, response lost
    retry = await create(client, "alert-7")
    assert retry.status_code == 200
    assert retry.json()["incident"]["id"] == sim.incidents()[0]["id"]
    assert len(sim.incidents()) == 1


async def test_faults_can_target_a_method_and_path(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.fail_next(1, "503", method="POST", path_prefix="/v2/incidents")
    assert (await client.get("/v2/incidents")).status_code == 200
    assert (await client.get("/v1/severities")).status_code == 200
    assert (await create(client, "k")).status_code == 503
    assert sim.incidents() == []
    assert (await create(client, "k")).status_code == 200


async def test_latency_delays_every_api_request(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.latency_ms = 20_000
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/v1/identity", timeout=0.5)
    sim.latency_ms = 0
    assert (await client.get("/v1/identity")).status_code == 200


async def test_control_routes_are_never_faulted(sim: Simulator) -> None:
    sim.fail_next(1, "500")
    async with httpx.AsyncClient(base_url=sim.base_url) as control:
        assert (await control.get("/_simulator/incidents")).status_code == 200
    assert len(sim.faults.pending) == 1
