"""Incidents over HTTP: idempotent creates (also concurrent), show, edit, list and pagination."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sim_http import assert_error_envelope, catalog, create, edit, error_fields

from causely_incidentio.simulator import Simulator

pytestmark = pytest.mark.integration


async def test_same_key_same_incident(client: httpx.AsyncClient, sim: Simulator) -> None:
    first = await create(client, "alert-1")
    again = await create(client, "alert-1", name="a different name")
    assert first.status_code == again.status_code == 200
    assert again.json()["incident"]["id"] == first.json()["incident"]["id"]
    assert again.json()["incident"]["name"] == "incident alert-1"
    assert len(sim.incidents()) == 1


async def test_a_replay_returns_the_current_state(client: httpx.AsyncClient) -> None:
    incident = (await create(client, "alert-1")).json()["incident"]
    ids = await catalog(client)
    await edit(client, incident["id"], incident_status_id=ids["Resolved"])
    replay = (await create(client, "alert-1")).json()["incident"]
    assert replay["incident_status"]["name"] == "Resolved"


async def test_twenty_concurrent_creates_with_one_key_make_one_incident(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    ids = await catalog(client)
    body = {"idempotency_key": "storm", "visibility": "public", "severity_id": ids["Major"]}
    responses = await asyncio.gather(*(client.post("/v2/incidents", json=body) for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["incident"]["id"] for r in responses}) == 1
    assert len(sim.incidents()) == 1


async def test_different_keys_make_different_incidents(client: httpx.AsyncClient, sim: Simulator) -> None:
    refs = [(await create(client, f"k{i}")).json()["incident"]["reference"] for i in range(3)]
    assert refs == ["INC-1", "INC-2", "INC-3"]


async def test_show_by_id_and_by_numeric_reference(client: httpx.AsyncClient) -> None:
    incident = (await create(client, "k")).json()["incident"]
    by_id = await client.get(f"/v2/incidents/{incident['id']}")
    by_number = await client.get("/v2/incidents/1")
    assert by_id.json() == by_number.json() == {"incident": incident}


async def test_unknown_incident_is_404_not_found(client: httpx.AsyncClient) -> None:
    for path in ("/v2/incidents/01NOSUCHINCIDENT", "/v2/incidents/99", "/v2/incidents/INC-1"):
        body = assert_error_envelope(await client.get(path), 404, "not_found")
        assert body["errors"][0]["code"] == "not_found"
    missing = await edit(client, "42", name="x")
    assert_error_envelope(missing, 404, "not_found")


async def test_resolve_by_numeric_reference_then_close(client: httpx.AsyncClient) -> None:
    await create(client, "k")
    ids = await catalog(client)
    fixed = await edit(client, "1", notify=True, incident_status_id=ids["Fixed"])
    assert fixed.json()["incident"]["incident_status"]["category"] == "learning"
    closed = await edit(client, "1", incident_status_id=ids["Closed"])
    assert closed.json()["incident"]["incident_status"]["category"] == "closed"


async def test_an_illegal_transition_is_422(client: httpx.AsyncClient, sim: Simulator) -> None:
    incident = (await create(client, "k")).json()["incident"]
    ids = await catalog(client)
    await edit(client, incident["id"], incident_status_id=ids["Closed"])
    reopened = await edit(client, incident["id"], incident_status_id=ids["Investigating"])
    body = assert_error_envelope(reopened, 422, "validation_error")
    assert error_fields(reopened) == {"incident.incident_status_id": "invalid_transition"}
    assert "Closed (closed)" in body["errors"][0]["message"]
    assert sim.incident(incident["id"])["incident_status"]["name"] == "Closed"


async def test_severity_and_summary_edits(client: httpx.AsyncClient) -> None:
    incident = (await create(client, "k")).json()["incident"]
    ids = await catalog(client)
    edited = (await edit(client, incident["id"], severity_id=ids["Critical"], summary="**worse**")).json()["incident"]
    assert edited["severity"]["name"] == "Critical"
    assert (edited["summary"], edited["name"]) == ("**worse**", incident["name"])


async def test_three_pages_with_repeated_query_keys(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await create(client, f"k{i}")
    await create(client, "t", mode="test")
    seen: list[str] = []
    metas = []
    params: list[tuple[str, str]] = [("page_size", "2"), ("mode[one_of]", "standard"), ("mode[one_of]", "test")]
    after = None
    for _ in range(3):
        response = await client.get("/v2/incidents", params=[*params, *([("after", after)] if after else [])])
        assert response.status_code == 200
        seen += [i["reference"] for i in response.json()["incidents"]]
        meta = response.json()["pagination_meta"]
        metas.append(meta)
        after = meta.get("after")
    assert seen == ["INC-6", "INC-5", "INC-4", "INC-3", "INC-2", "INC-1"]
    assert [("after" in m) for m in metas] == [True, True, False]
    assert {m["total_record_count"] for m in metas} == {6} and {m["page_size"] for m in metas} == {2}


async def test_test_incidents_are_listed_only_when_asked_for(client: httpx.AsyncClient, sim: Simulator) -> None:
    await create(client, "real")
    await create(client, "drill", mode="test")
    default = await client.get("/v2/incidents")
    assert [i["name"] for i in default.json()["incidents"]] == ["incident real"]
    tests = await client.get("/v2/incidents", params={"mode[one_of]": "test"})
    assert [i["name"] for i in tests.json()["incidents"]] == ["incident drill"]
    assert len(sim.incidents()) == 2 and len(sim.incidents(include_all_modes=False)) == 1


async def test_status_category_filters(client: httpx.AsyncClient) -> None:
    ids = await catalog(client)
    for key in ("a", "b", "c"):
        await create(client, key)
    await edit(client, "1", incident_status_id=ids["Resolved"])
    live = await client.get("/v2/incidents", params={"status_category[one_of]": "live"})
    assert [i["reference"] for i in live.json()["incidents"]] == ["INC-3", "INC-2"]
    not_live = await client.get("/v2/incidents", params={"status_category[not_in]": "live"})
    assert [i["reference"] for i in not_live.json()["incidents"]] == ["INC-1"]
