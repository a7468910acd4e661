"""The /_simulator/ control API and the in-process Python API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sim_http import TOKEN_FINGERPRINT, assert_error_envelope, create

from causely_incidentio.simulator import Simulator

pytestmark = pytest.mark.integration


@pytest.fixture
async def control(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{sim.base_url}/_simulator", timeout=10.0) as http:
        yield http


async def test_incidents_lists_every_mode_in_full(client: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await create(client, "a")
    await create(client, "b", mode="test")
    listed = (await control.get("/incidents")).json()["incidents"]
    assert [i["reference"] for i in listed] == ["INC-1", "INC-2"]
    assert listed[1]["mode"] == "test" and "incident_status" in listed[1]
    shown = await control.get("/incidents/INC-2")
    assert shown.json()["incident"] == listed[1]
    assert (await control.get("/incidents/INC-9")).status_code == 404


async def test_requests_log(client: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    await client.get("/v1/identity", params={"x": "1"})
    await create(client, "logged")
    entries = (await control.get("/requests")).json()["requests"]
    post = entries[-1]
    assert entries[0]["method"] == "GET" and entries[0]["path"] == "/v1/identity" and entries[0]["query"] == "x=1"
    assert (post["method"], post["path"], post["status"]) == ("POST", "/v2/incidents", 200)
    assert post["token_fingerprint"] == TOKEN_FINGERPRINT
    assert post["body"]["idempotency_key"] == "logged"
    assert entries[0]["body"] is None
    assert all(e["path"].startswith("/v") for e in entries)  # control calls are not logged


async def test_faults_endpoint(client: httpx.AsyncClient, control: httpx.AsyncClient, sim: Simulator) -> None:
    set_fault = await control.post("/faults", json={"count": 2, "kind": "503", "path_prefix": "/v1/"})
    assert set_fault.status_code == 200
    assert set_fault.json()["faults"][0] | {"remaining": 2} == {
        "kind": "503", "remaining": 2, "method": None, "path_prefix": "/v1/", "after_processing": False}
    assert (await client.get("/v1/identity")).status_code == 503
    assert (await control.get("/faults")).json()["faults"][0]["remaining"] == 1
    latency = await control.post("/faults", json={"latency_ms": 5})
    assert latency.json()["latency_ms"] == 5 and sim.latency_ms == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"count": 1, "kind": "418"}, "kind"),
        ({"count": 1}, "kind"),
        ({"count": "two", "kind": "500"}, "count"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"kind": "429", "after_processing": True}, "kind"),
    ],
)
async def test_faults_endpoint_rejects_bad_bodies(
    control: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await control.post("/faults", json=body)
    assert_error_envelope(response, 422, "validation_error")
    assert response.json()["errors"][0]["source"]["field"] == field


async def test_faults_endpoint_rejects_malformed_json(control: httpx.AsyncClient) -> None:
    response = await control.post("/faults", content=b"{")
    assert response.status_code == 400 and response.json()["type"] == "invalid_request_error"


async def test_close_as_a_person_would(client: httpx.AsyncClient, control: httpx.AsyncClient) -> None:
    incident = (await create(client, "k")).json()["incident"]
    closed = await control.post(f"/incidents/{incident['id']}/close", json={"status_name": "Closed"})
    assert closed.json()["incident"]["incident_status"]["name"] == "Closed"
    reopened = await control.post("/incidents/1/close", json={"status_name": "Investigating"})  # no rules
    assert reopened.json()["incident"]["incident_status"]["name"] == "Investigating"
    default = await control.post("/incidents/1/close")
    assert default.json()["incident"]["incident_status"]["name"] == "Closed"
    assert (await control.post("/incidents/9/close", json={})).status_code == 404
    unknown = await control.post("/incidents/1/close", json={"status_name": "Gone"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["source"]["field"] == "status_name"


async def test_reset(client: httpx.AsyncClient, control: httpx.AsyncClient, sim: Simulator) -> None:
    await create(client, "k")
    sim.fail_next(5, "500", path_prefix="/nowhere")
    sim.latency_ms = 3
    assert (await control.post("/reset")).status_code == 200
    assert sim.incidents() == [] and sim.requests == [] and sim.faults.pending == [] and sim.latency_ms == 0
    assert (await create(client, "k")).json()["incident"]["reference"] == "INC-1"


async def test_permalinks_lead_to_a_page(client: httpx.AsyncClient, sim: Simulator) -> None:
    incident = (await create(client, "k", summary="<b>disk</b> full")).json()["incident"]
    assert incident["permalink"] == f"{sim.base_url}/incidents/1"
    async with httpx.AsyncClient() as browser:
        page = await browser.get(incident["permalink"])
        missing = await browser.get(f"{sim.base_url}/incidents/7")
    assert page.status_code == 200 and "INC-1" in page.text and "&lt;b&gt;disk" in page.text
    assert missing.status_code == 404


async def test_public_url_sets_permalinks_and_dashboard() -> None:
    async with Simulator(public_url="https://incidents.example/") as sim, httpx.AsyncClient(
        base_url=sim.base_url, headers={"Authorization": "Bearer t"}
    ) as client:
        incident = (await create(client, "k")).json()["incident"]
        identity = (await client.get("/v1/identity")).json()["identity"]
    assert incident["permalink"] == "https://incidents.example/incidents/1"
    assert identity["dashboard_url"] == "https://incidents.example/simulated-org"


async def test_python_api(client: httpx.AsyncClient, sim: Simulator) -> None:
    created = (await create(client, "k")).json()["incident"]
    await create(client, "t", mode="tutorial")
    assert sim.incident("INC-1") == sim.incident("1") == sim.incident(created["id"]) == created
    assert [i["reference"] for i in sim.incidents(include_all_modes=False)] == ["INC-1"]
    closed = sim.close_incident("INC-1", "resolved")
    assert closed["incident_status"]["name"] == "Resolved"
    assert (await client.get("/v2/incidents/1")).json()["incident"]["incident_status"]["name"] == "Resolved"
    assert [r.path for r in sim.requests][-1] == "/v2/incidents/1"
    with pytest.raises(KeyError):
        sim.incident("INC-99")
    assert sim.organisation.status_by_name("Fixed") is not None
