"""incident.io's SDK drives the simulator through every endpoint the product uses.

Every response must parse into the SDK's models (not its ``ErrorResponse``), every request the SDK builds
must be accepted by the simulator's strict validation, and every error body must be a well-formed
``ErrorResponse`` whose ``type`` the live schema knows. The product's own client is run too, and each
body it sends must be one the SDK's request models express exactly.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from incident_io import AuthenticatedClient
from incident_io.api.incident_statuses_v1 import incident_statuses_v1_list, incident_statuses_v1_show
from incident_io.api.incident_types_v1 import incident_types_v1_list, incident_types_v1_show
from incident_io.api.incidents_v2 import incidents_v2_create, incidents_v2_edit, incidents_v2_list, incidents_v2_show
from incident_io.api.severities_v1 import severities_v1_list, severities_v1_show
from incident_io.api.utilities_v1 import utilities_v1_identity
from incident_io.models import (
    CustomFieldEntryPayloadV2,
    CustomFieldValuePayloadV2,
    ErrorResponse,
    ErrorResponseType,
    IncidentEditPayloadV2,
    IncidentsCreatePayloadV2,
    IncidentsCreatePayloadV2Mode,
    IncidentsCreatePayloadV2Visibility,
    IncidentsCreateResultV2,
    IncidentsEditPayloadV2,
    IncidentsEditResultV2,
    IncidentsListResultV2,
    IncidentsShowResultV2,
    IncidentStatusesListResultV1,
    IncidentStatusesShowResultV1,
    IncidentsV2ListMode,
    IncidentsV2ListStatusCategory,
    IncidentTypesListResultV1,
    IncidentTypesShowResultV1,
    IncidentV2,
    SeveritiesListResultV1,
    SeveritiesShowResultV1,
    UtilitiesIdentityResultV1,
)
from incident_io.types import UNSET, Response, Unset
from sdk_schema import PRODUCT_ENDPOINTS, SIMULATOR_ONLY_ENDPOINTS, TOKEN

from causely_incidentio.incidentio.client import IncidentIOClient, RetryPolicy
from causely_incidentio.simulator import Simulator


def _ok(response: Response[Any], model: type) -> Any:
    assert response.status_code == 200, response.content
    assert isinstance(response.parsed, model), response.parsed
    return response.parsed


def _template(path: str) -> str:
    """``/v2/incidents/01H.../actions/edit`` -> ``/v2/incidents/{id}/actions/edit``."""
    return re.sub(r"^(/v\d/[a-z_]+)/[^/]+", r"\1/{id}", path)


def _seen(sim: Simulator) -> set[tuple[str, str]]:
    return {(r.method, _template(r.path)) for r in sim.requests}


async def _catalog(sdk: AuthenticatedClient) -> dict[str, str]:
    severities = _ok(await severities_v1_list.asyncio_detailed(client=sdk), SeveritiesListResultV1)
    types = _ok(await incident_types_v1_list.asyncio_detailed(client=sdk), IncidentTypesListResultV1)
    statuses = _ok(await incident_statuses_v1_list.asyncio_detailed(client=sdk), IncidentStatusesListResultV1)
    return {item.name: item.id for item in (*severities.severities, *types.incident_types,
                                            *statuses.incident_statuses)}


def _create_body(ids: dict[str, str], sim: Simulator, key: str) -> IncidentsCreatePayloadV2:
    root_cause = sim.organisation.custom_fields[0]["id"]
    return IncidentsCreatePayloadV2(
        idempotency_key=key,
        visibility=IncidentsCreatePayloadV2Visibility.PUBLIC,
        name=f"Checkout latency {key}",
        summary="Created by incident.io's SDK",
        severity_id=ids["Minor"],
        incident_type_id=ids["Production Outage"],
        incident_status_id=ids["Investigating"],
        mode=IncidentsCreatePayloadV2Mode.STANDARD,
        custom_field_entries=[CustomFieldEntryPayloadV2(
            custom_field_id=root_cause, values=[CustomFieldValuePayloadV2(value_text="a slow database")])],
    )


def _assert_live_fields(incident: IncidentV2) -> None:
    assert incident.team_ids == []
    assert incident.last_activity_at >= incident.created_at
    assert not isinstance(incident.permalink, Unset)


async def test_the_sdk_reads_identity_and_the_catalog(sim: Simulator, sdk: AuthenticatedClient) -> None:
    identity = _ok(await utilities_v1_identity.asyncio_detailed(client=sdk), UtilitiesIdentityResultV1)
    assert {str(r) for r in identity.identity.roles} >= {"incident_creator", "incident_editor"}
    ids = await _catalog(sdk)
    _ok(await severities_v1_show.asyncio_detailed(ids["Minor"], client=sdk), SeveritiesShowResultV1)
    _ok(await incident_types_v1_show.asyncio_detailed(ids["Default"], client=sdk), IncidentTypesShowResultV1)
    _ok(await incident_statuses_v1_show.asyncio_detailed(ids["Fixed"], client=sdk), IncidentStatusesShowResultV1)
    assert all(r.status == 200 for r in sim.requests)


async def test_the_sdk_creates_shows_edits_and_lists_incidents(sim: Simulator, sdk: AuthenticatedClient) -> None:
    ids = await _catalog(sdk)
    created = _ok(await incidents_v2_create.asyncio_detailed(client=sdk, body=_create_body(ids, sim, "k-1")),
                  IncidentsCreateResultV2).incident
    _assert_live_fields(created)
    assert created.incident_status.name == "Investigating"

    replayed = _ok(await incidents_v2_create.asyncio_detailed(client=sdk, body=_create_body(ids, sim, "k-1")),
                   IncidentsCreateResultV2).incident
    assert replayed.id == created.id and len(sim.store) == 1  # the idempotency key held

    shown = _ok(await incidents_v2_show.asyncio_detailed(created.id, client=sdk), IncidentsShowResultV2).incident
    assert shown.id == created.id and shown.reference == created.reference

    edit = IncidentsEditPayloadV2(
        incident=IncidentEditPayloadV2(severity_id=ids["Major"], name="Checkout latency (worse)",
                                       summary="Edited by the SDK"),
        notify_incident_channel=False,
    )
    edited = _ok(await incidents_v2_edit.asyncio_detailed(created.id, client=sdk, body=edit),
                 IncidentsEditResultV2).incident
    assert not isinstance(edited.severity, Unset) and edited.severity.name == "Major"
    resolve = IncidentsEditPayloadV2(incident=IncidentEditPayloadV2(incident_status_id=ids["Fixed"]),
                                     notify_incident_channel=True)
    resolved = _ok(await incidents_v2_edit.asyncio_detailed(created.id, client=sdk, body=resolve),
                   IncidentsEditResultV2).incident
    assert resolved.incident_status.name == "Fixed"
    assert resolved.last_activity_at >= edited.last_activity_at >= created.last_activity_at

    for n in range(2, 5):
        _ok(await incidents_v2_create.asyncio_detailed(client=sdk, body=_create_body(ids, sim, f"k-{n}")),
            IncidentsCreateResultV2)
    listed: list[str] = []
    after: str | Unset = UNSET
    while True:
        page = _ok(await incidents_v2_list.asyncio_detailed(
            client=sdk, page_size=2, after=after,
            status_category=IncidentsV2ListStatusCategory.from_dict({"one_of": ["live", "learning"]}),
            mode=IncidentsV2ListMode.from_dict({"one_of": ["standard"]}),
        ), IncidentsListResultV2)
        for incident in page.incidents:
            _assert_live_fields(incident)
        listed += [i.id for i in page.incidents]
        meta = page.pagination_meta
        if isinstance(meta, Unset) or isinstance(meta.after, Unset) or not page.incidents:
            break
        after = meta.after
    assert len(listed) == 4 and created.id in listed

    assert all(r.status == 200 for r in sim.requests), [(r.path, r.status) for r in sim.requests if r.status != 200]
    assert _seen(sim) >= set(PRODUCT_ENDPOINTS) - {("GET", "/v1/identity")}


async def test_every_endpoint_of_the_product_was_driven_by_the_sdk(sim: Simulator, sdk: AuthenticatedClient) -> None:
    await test_the_sdk_reads_identity_and_the_catalog(sim, sdk)
    await test_the_sdk_creates_shows_edits_and_lists_incidents(sim, sdk)
    assert _seen(sim) == set(PRODUCT_ENDPOINTS) | set(SIMULATOR_ONLY_ENDPOINTS)


# ------------------------------------------------------------------------------------------- error bodies


def _error(response: httpx.Response | Response[Any], status: int) -> ErrorResponse:
    assert int(response.status_code) == status
    body = response.json() if isinstance(response, httpx.Response) else None
    parsed = ErrorResponse.from_dict(body) if body is not None else response.parsed  # type: ignore[union-attr]
    assert isinstance(parsed, ErrorResponse)
    assert parsed.status == status and parsed.errors
    # A value the SDK's enum does not list would still parse (as a pseudo-member), so check membership.
    assert parsed.type_ in list(ErrorResponseType), f"{parsed.type_!r} is not an error type of the live schema"
    return parsed


async def test_error_bodies_are_the_live_schemas_error_response(sim: Simulator, sdk: AuthenticatedClient) -> None:
    ids = await _catalog(sdk)
    # 422: the field and the pointer to it
    bad = _create_body(ids, sim, "k-bad")
    bad.severity_id = "01NOSUCHSEVERITY0000000000"
    error = _error(await incidents_v2_create.asyncio_detailed(client=sdk, body=bad), 422)
    sources = [e.source for e in error.errors if not isinstance(e.source, Unset)]
    assert [(s.field, s.pointer) for s in sources] == [("severity_id", "/severity_id")]
    # 404 from the endpoint, and from the router
    _error(await incidents_v2_show.asyncio_detailed("01NOSUCHINCIDENT0000000000", client=sdk), 404)
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        _error(await raw.get("/v2/no_such_thing"), 404)
        _error(await raw.delete("/v2/incidents"), 405)
        _error(await raw.post("/v2/incidents", content=b"{not json"), 400)
    # 401 and 403
    async with AuthenticatedClient(base_url=sim.base_url, token="not-a-key") as stranger:
        _error(await utilities_v1_identity.asyncio_detailed(client=stranger), 401)
    # 429 (with rate_limit), 500 and 503 (the last is undocumented for the endpoint: the SDK raises)
    sim.fail_next(1, "429")
    limited = _error(await severities_v1_list.asyncio_detailed(client=sdk), 429)
    assert not isinstance(limited.rate_limit, Unset) and limited.rate_limit.retry_after
    sim.fail_next(1, "500")
    _error(await severities_v1_list.asyncio_detailed(client=sdk), 500)
    sim.fail_next(1, "503")
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        _error(await raw.get("/v1/severities"), 503)


async def test_a_key_without_roles_gets_a_forbidden_error_response() -> None:
    async with Simulator(forbidden_tokens=["no-roles"]) as sim, \
            AuthenticatedClient(base_url=sim.base_url, token="no-roles") as sdk:
        error = _error(await severities_v1_list.asyncio_detailed(client=sdk), 403)
        assert error.type_ is ErrorResponseType.RESOURCE_FORBIDDEN
        assert sim.response_problems == []


# --------------------------------------------------------------------------------- the product's requests


@pytest.fixture
async def product(sim: Simulator) -> IncidentIOClient:
    return IncidentIOClient(TOKEN, base_url=sim.base_url, retry=RetryPolicy(max_attempts=1))


async def test_every_body_the_product_client_sends_is_one_the_sdk_expresses(
    sim: Simulator, product: IncidentIOClient, sdk: AuthenticatedClient
) -> None:
    severities = {s.name: s.id for s in await product.list_severities()}
    statuses = {s.name: s.id for s in await product.list_incident_statuses()}
    types = await product.list_incident_types()
    await product.identity()
    incident = await product.create_incident(
        idempotency_key="product-1", visibility="public", name="From the product", summary="s",
        severity_id=severities["Minor"], incident_type_id=types[0].id, mode="standard",
        custom_field_entries=[{"custom_field_id": sim.organisation.custom_fields[0]["id"],
                               "values": [{"value_text": "why"}]}],
    )
    await product.show_incident(incident.id)
    await product.edit_incident(incident.id, notify_incident_channel=False, severity_id=severities["Major"],
                                name="renamed")
    await product.edit_incident(incident.id, notify_incident_channel=True, incident_status_id=statuses["Fixed"])
    assert [i.id async for i in product.list_incidents(page_size=1, status_categories=["learning"],
                                                        modes=["standard"])] == [incident.id]
    assert _seen(sim) == set(PRODUCT_ENDPOINTS)
    assert all(r.status == 200 for r in sim.requests)

    payloads = {"/v2/incidents": IncidentsCreatePayloadV2, "/v2/incidents/{id}/actions/edit": IncidentsEditPayloadV2}
    posts = [r for r in sim.requests if r.method == "POST"]
    assert len(posts) == 3
    for record in posts:
        model: Any = payloads[_template(record.path)]
        parsed = model.from_dict(record.body)
        assert parsed.to_dict() == record.body, "the SDK's model drops or changes part of the product's body"
        assert parsed.additional_properties == {}, "the product sends a field the live schema does not know"

    shown = _ok(await incidents_v2_show.asyncio_detailed(incident.id, client=sdk), IncidentsShowResultV2).incident
    assert shown.incident_status.name == "Fixed" and shown.name == "renamed"
