"""Requests and responses over HTTP follow the spec: success shapes, 400/404/405/422 bodies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sim_http import assert_error_envelope, assert_matches, catalog, create, edit, error_fields

from causely_incidentio.simulator import Simulator, state

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("path", "key", "schema"),
    [
        ("/v1/severities", "severities", "SeveritiesShowResultV1"),
        ("/v1/incident_types", "incident_types", "IncidentTypesShowResultV1"),
        ("/v1/incident_statuses", "incident_statuses", "IncidentStatusesShowResultV1"),
    ],
)
async def test_catalog_list_and_show(client: httpx.AsyncClient, path: str, key: str, schema: str) -> None:
    listed = await client.get(path)
    assert listed.status_code == 200
    assert_matches(schema.replace("Show", "List"), listed.json())
    first = listed.json()[key][0]
    shown = await client.get(f"{path}/{first['id']}")
    assert shown.status_code == 200
    assert_matches(schema, shown.json())
    assert next(iter(shown.json().values())) == first
    assert_error_envelope(await client.get(f"{path}/01NOSUCHTHING"), 404, "not_found")


async def test_identity(client: httpx.AsyncClient, sim: Simulator) -> None:
    response = await client.get("/v1/identity")
    assert response.status_code == 200
    assert_matches("UtilitiesIdentityResultV1", response.json())
    identity = response.json()["identity"]
    assert {"incident_creator", "incident_editor"} <= set(identity["roles"])
    assert identity["dashboard_url"].startswith(sim.base_url)


async def test_create_show_edit_list_follow_the_spec(client: httpx.AsyncClient) -> None:
    created = await create(client, "contract")
    assert created.status_code == 200
    assert_matches("IncidentsCreateResultV2", created.json())
    incident = created.json()["incident"]
    shown = await client.get(f"/v2/incidents/{incident['id']}")
    assert_matches("IncidentsShowResultV2", shown.json())
    ids = await catalog(client)
    edited = await edit(client, incident["id"], incident_status_id=ids["Fixed"], summary="found it")
    assert edited.status_code == 200
    assert_matches("IncidentsEditResultV2", edited.json())
    listed = await client.get("/v2/incidents")
    assert_matches("IncidentsListResultV2", listed.json())


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"visibility": "public"}, {"idempotency_key": "is_required"}),
        ({"idempotency_key": "k"}, {"visibility": "is_required"}),
        ({"idempotency_key": "k", "visibility": "everyone"}, {"visibility": "invalid_value"}),
        ({"idempotency_key": 5, "visibility": "public"}, {"idempotency_key": "invalid_type"}),
        ({"idempotency_key": "k", "visibility": "public", "mode": "demo"}, {"mode": "invalid_value"}),
        ({"idempotency_key": "k", "visibility": "public", "severity": "Minor"}, {"severity": "unknown_field"}),
        ({"idempotency_key": "k", "visibility": "public"}, {"severity_id": "is_required"}),
        ({"idempotency_key": "k", "visibility": "public", "severity_id": "nope"}, {"severity_id": "not_found"}),
        ({"idempotency_key": "k", "visibility": "public", "incident_type_id": "nope", "severity_id": None},
         {"severity_id": "invalid_type"}),
    ],
)
async def test_invalid_create_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, sim: Simulator, body: dict[str, Any], expected: dict[str, str]
) -> None:
    response = await client.post("/v2/incidents", json=body)
    assert_error_envelope(response, 422, "validation_error")
    assert error_fields(response) == expected
    assert sim.incidents() == []


async def test_invalid_edit_bodies_name_the_nested_field(client: httpx.AsyncClient) -> None:
    incident = (await create(client, "k")).json()["incident"]
    missing = await client.post(f"/v2/incidents/{incident['id']}/actions/edit", json={"incident": {}})
    assert error_fields(missing) == {"notify_incident_channel": "is_required"}
    bad = await edit(client, incident["id"], severity_id="nope")
    assert_error_envelope(bad, 422, "validation_error")
    assert error_fields(bad) == {"incident.severity_id": "not_found"}


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/incidents", content=b"{not json", headers={"Content-Type": "application/json"})
    body = assert_error_envelope(response, 400, "invalid_request_error")
    assert "not valid JSON" in body["errors"][0]["message"]
    assert_error_envelope(await client.post("/v2/incidents"), 400, "invalid_request_error")


async def test_list_query_is_validated(client: httpx.AsyncClient) -> None:
    too_big = await client.get("/v2/incidents", params={"page_size": "251"})
    assert_error_envelope(too_big, 422, "validation_error")
    assert error_fields(too_big) == {"page_size": "invalid_value"}
    no_operator = await client.get("/v2/incidents", params={"status_category": "live"})
    assert error_fields(no_operator) == {"status_category": "invalid_parameter"}


async def test_unknown_routes_and_methods_use_the_error_envelope(client: httpx.AsyncClient) -> None:
    assert_error_envelope(await client.get("/v2/nothing-here"), 404, "not_found")
    wrong_method = await client.delete("/v2/incidents")
    assert_error_envelope(wrong_method, 405, "method_not_allowed")


async def test_a_response_that_breaks_the_spec_is_detected(
    client: httpx.AsyncClient, sim: Simulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = state.incident_json

    def without_reference(*args: Any) -> dict[str, Any]:
        body = real(*args)
        del body["reference"]
        return body

    monkeypatch.setattr(state, "incident_json", without_reference)
    response = await create(client, "broken")
    body = assert_error_envelope(response, 500, "api_error")
    assert body["errors"][0]["code"] == "simulator_response_invalid"
    assert len(sim.response_problems) == 1
    assert "IncidentsCreateResultV2" in sim.response_problems[0] and "incident.reference" in sim.response_problems[0]
    assert any("does not match the incident.io spec" in r.message for r in caplog.records)
    sim.response_problems.clear()  # the fixture asserts none are left

    sim.validate_responses = False
    unchecked = await client.get("/v2/incidents/1")
    assert unchecked.status_code == 200 and "reference" not in unchecked.json()["incident"]
    assert sim.response_problems == []


async def test_unknown_fields_pass_when_not_strict() -> None:
    async with Simulator(strict_requests=False) as sim, httpx.AsyncClient(
        base_url=sim.base_url, headers={"Authorization": "Bearer t"}
    ) as client:
        created = await create(client, "k", severity="a misspelt field")
        listed = await client.get("/v2/incidents", params={"statuscategory[one_of]": "live"})
    assert created.status_code == 200
    assert listed.status_code == 200 and len(listed.json()["incidents"]) == 1


async def test_start_twice_is_refused_and_stop_is_idempotent() -> None:
    sim = Simulator()
    base_url = await sim.start()
    assert base_url.startswith("http://127.0.0.1:") and sim.base_url == base_url
    with pytest.raises(RuntimeError):
        await sim.start()
    await sim.stop()
    await sim.stop()
