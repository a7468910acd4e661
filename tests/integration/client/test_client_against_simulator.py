"""The real client against the spec-validating simulator: create, replay, show, edit to resolved, list."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from causely_incidentio.incidentio import (
    AuthenticationError,
    Catalog,
    IncidentIOClient,
    NotFoundError,
    ValidationError,
    close_pools,
)
from causely_incidentio.simulator import Simulator

pytestmark = pytest.mark.integration

TOKEN = "client-sim-token"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(tokens=[TOKEN]) as s:
        yield s
        assert s.response_problems == []  # every response the client saw matched the published spec
    await close_pools()


async def test_create_replay_show_resolve_list(sim: Simulator) -> None:
    async with IncidentIOClient(TOKEN, base_url=sim.base_url) as client:
        catalog = Catalog(client)
        severity = await catalog.severity_for("Critical")
        incident_type = await catalog.default_incident_type()
        created = await client.create_incident(
            idempotency_key="causely-incidentio/test/abc/1", visibility="public", name="Checkout is failing",
            summary="Malfunction on checkout", severity_id=severity.id,
            incident_type_id=incident_type.id if incident_type else None, mode="standard",
        )
        assert created.reference.startswith("INC-") and created.incident_status.category == "live"

        replay = await client.create_incident(
            idempotency_key="causely-incidentio/test/abc/1", visibility="public", name="a different body",
            severity_id=severity.id,
        )
        assert replay.id == created.id and len(sim.incidents()) == 1

        shown = await client.show_incident(created.reference.removeprefix("INC-"))
        assert shown.id == created.id

        resolved_status = await catalog.status_by_name("resolved")
        assert resolved_status.is_resolved
        edited = await client.edit_incident(created.id, notify_incident_channel=False,
                                            incident_status_id=resolved_status.id)
        assert edited.incident_status.name == "Resolved"

        listed = [i.id async for i in client.list_incidents(status_categories=["closed"])]
        assert listed == [created.id]
        live = [i.id async for i in client.list_incidents(status_categories=["live"])]
        assert live == []


async def test_pagination_and_test_mode_through_the_client(sim: Simulator) -> None:
    async with IncidentIOClient(TOKEN, base_url=sim.base_url) as client:
        sev = (await client.list_severities())[0]
        for i in range(7):
            await client.create_incident(idempotency_key=f"k{i}", visibility="public", severity_id=sev.id,
                                         mode="test" if i % 2 else "standard")
        page = await client.list_incidents_page(page_size=2)
        assert len(page.incidents) == 2 and page.after
        standard = [i async for i in client.list_incidents(page_size=2)]
        assert len(standard) == 4  # test-mode incidents hidden unless asked for, as the real API does
        everything = [i async for i in client.list_incidents(page_size=3, modes=["standard", "test"])]
        assert len(everything) == 7


async def test_typed_errors_from_the_simulator(sim: Simulator) -> None:
    async with IncidentIOClient(TOKEN, base_url=sim.base_url) as client:
        with pytest.raises(NotFoundError) as nf:
            await client.show_incident("01NOPE0000000000000000000")
        assert nf.value.status == 404 and nf.value.type == "not_found" and nf.value.request_id
        with pytest.raises(ValidationError) as ve:
            await client.create_incident(idempotency_key="bad", visibility="public", severity_id="01NOSUCH")
        assert any(e.field == "severity_id" for e in ve.value.errors)
    async with IncidentIOClient("wrong-token", base_url=sim.base_url) as client:
        with pytest.raises(AuthenticationError) as ae:
            await client.identity()
        assert "wrong-token" not in str(ae.value)
