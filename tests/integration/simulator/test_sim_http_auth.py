"""Bearer authentication (401), keys without roles (403), and tokens never leaking into what is kept."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from sim_http import assert_error_envelope, create

from causely_incidentio.simulator import Simulator, fingerprint

pytestmark = pytest.mark.integration

GOOD = "good-token-7d2a"
VIEWER = "viewer-token-91be"


@pytest.fixture
async def locked() -> AsyncIterator[Simulator]:
    async with Simulator(tokens=[GOOD], forbidden_tokens=[VIEWER]) as simulator:
        yield simulator


def http(sim: Simulator, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=10.0)


async def test_missing_authorization_is_401_missing_material(sim: Simulator) -> None:
    async with http(sim, None) as client:
        response = await client.get("/v1/identity")
    body = assert_error_envelope(response, 401, "authentication_error")
    assert body["errors"] == [{"code": "missing_authorization_material",
                               "message": "No authorization material provided in request"}]
    assert "X-RateLimit-Remaining" not in response.headers


async def test_an_empty_bearer_is_missing_material(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": "Bearer"}) as client:
        response = await client.get("/v1/identity")
    assert response.json()["errors"][0]["code"] == "missing_authorization_material"


async def test_another_scheme_is_invalid_material(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url, auth=("user", "pass")) as client:
        response = await client.get("/v1/identity")
    body = assert_error_envelope(response, 401, "authentication_error")
    assert body["errors"][0]["code"] == "invalid_authorization_material"


async def test_any_non_empty_bearer_works_when_no_tokens_are_configured(sim: Simulator) -> None:
    async with http(sim, "whatever") as client:
        assert (await client.get("/v1/identity")).status_code == 200


async def test_with_configured_tokens_only_those_work(locked: Simulator) -> None:
    async with http(locked, "wrong-token") as client:
        response = await client.get("/v1/severities")
    body = assert_error_envelope(response, 401, "authentication_error")
    assert body["errors"][0]["code"] == "invalid_authorization_material"
    async with http(locked, GOOD) as client:
        assert (await client.get("/v1/severities")).status_code == 200


async def test_a_forbidden_token_is_403_except_for_identity(locked: Simulator) -> None:
    async with http(locked, VIEWER) as client:
        identity = await client.get("/v1/identity")
        assert identity.status_code == 200 and identity.json()["identity"]["roles"] == []
        for response in (await client.get("/v1/severities"),
                         await client.post("/v2/incidents", json={"idempotency_key": "k", "visibility": "public"})):
            body = assert_error_envelope(response, 403, "resource_forbidden")
            assert body["errors"][0]["code"] == "forbidden"
    assert locked.incidents() == []


async def test_tokens_never_appear_in_the_request_log_or_logs(
    locked: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="causely_incidentio")
    async with http(locked, GOOD) as client:
        assert (await create(client, "k")).status_code == 200
    async with http(locked, "wrong-secret-token") as client:
        await client.get("/v1/identity")
    async with httpx.AsyncClient(base_url=locked.base_url) as control:
        everything = (await control.get("/_simulator/requests")).text
        everything += (await control.get("/_simulator/incidents")).text
    kept = everything + repr(locked.requests) + caplog.text + repr(locked.incidents()) + repr(vars(locked))
    for secret in (GOOD, VIEWER, "wrong-secret-token"):
        assert secret not in kept
    assert locked.requests[0].token_fingerprint == fingerprint(GOOD)
    assert fingerprint(GOOD) in caplog.text
