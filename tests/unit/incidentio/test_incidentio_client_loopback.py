"""The client against a real HTTP server on loopback: real sockets, real timeouts, real connection resets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from incidentio_fakes import TOKEN, FakeTime, incident_json

from causely_incidentio.incidentio import IncidentIOClient, RetryPolicy, TokenBucket

pytestmark = pytest.mark.integration


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str]]]:
    """Answers GET /v2/incidents/{id}: first too slowly, then by dropping the connection, then properly."""
    seen: list[str] = []

    async def show(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        if len(seen) == 1:
            await asyncio.sleep(1.0)  # beyond the client's read timeout
        if len(seen) == 2:
            assert request.transport is not None
            request.transport.abort()  # a reset mid-request
            return web.Response()
        return web.json_response({"incident": incident_json(id=request.match_info["id"])})

    app = web.Application()
    app.router.add_get("/v2/incidents/{id}", show)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_timeout_and_reset_are_retried_over_real_sockets(
    server: tuple[str, list[str]], fake_time: FakeTime
) -> None:
    base_url, seen = server
    client = IncidentIOClient(
        TOKEN,
        base_url=base_url,
        read_timeout=0.2,
        retry=RetryPolicy(max_attempts=3, base_backoff=0.01),
        bucket=TokenBucket(clock=fake_time.clock, sleep=fake_time.sleep),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    )
    incident = await client.show_incident("01ABC")
    assert incident.id == "01ABC"
    assert seen == [f"Bearer {TOKEN}"] * 3
    assert len(fake_time.sleeps) == 2
