"""The catalog cache: one request per TTL, one refresh on a miss, precise errors."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx
from incidentio_fakes import BASE, FakeTime, incident_type_json, severity_json, status_json

from causely_incidentio.incidentio import Catalog, CatalogLookupError, IncidentIOClient

MakeClient = Callable[..., IncidentIOClient]


def statuses(*items: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json={"incident_statuses": list(items)})


def severities(*items: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json={"severities": list(items)})


def types(*items: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json={"incident_types": list(items)})


LIVE = status_json("Investigating", "live", "st-live", 1)
CLOSED = status_json("Closed", "closed", "st-closed", 4)
LEARNING = status_json("Post-incident", "learning", "st-learn", 3)


@pytest.fixture
def catalog(make_client: MakeClient, fake_time: FakeTime) -> Catalog:
    return Catalog(make_client(), ttl_seconds=60.0, clock=fake_time.clock)


async def test_two_lookups_cost_one_request(catalog: Catalog) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get("/v1/incident_statuses").mock(return_value=statuses(LIVE, CLOSED))
        assert (await catalog.status_by_name("closed")).id == "st-closed"
        assert (await catalog.status_by_name("  INVESTIGATING ")).id == "st-live"
        assert [s.id for s in await catalog.statuses()] == ["st-live", "st-closed"]
    assert route.call_count == 1


async def test_the_cache_expires_after_the_ttl(catalog: Catalog, fake_time: FakeTime) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get("/v1/severities").mock(
            side_effect=[
                severities(severity_json("Minor", 1)),
                severities(severity_json("Renamed", 1, "sev-minor")),
            ]
        )
        assert [s.name for s in await catalog.severities()] == ["Minor"]
        fake_time.now += 59.0
        assert [s.name for s in await catalog.severities()] == ["Minor"]
        fake_time.now += 1.0
        assert [s.name for s in await catalog.severities()] == ["Renamed"]
    assert route.call_count == 2


async def test_a_miss_refreshes_once_then_finds_the_new_entry(catalog: Catalog) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get("/v1/incident_statuses").mock(side_effect=[statuses(LIVE), statuses(LIVE, LEARNING)])
        await catalog.statuses()
        assert (await catalog.status_by_name("post-incident")).category == "learning"
    assert route.call_count == 2


async def test_a_miss_right_after_a_fetch_fails_at_once_listing_names(catalog: Catalog) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get("/v1/incident_statuses").mock(return_value=statuses(LIVE, CLOSED))
        with pytest.raises(CatalogLookupError) as caught:
            await catalog.status_by_name("Resolved")
    assert route.call_count == 1
    assert str(caught.value) == (
        "incident status 'Resolved' does not exist in incident.io; available: "
        "'Investigating' (live), 'Closed' (closed)"
    )
    assert isinstance(caught.value, ValueError)


async def test_a_miss_after_the_refresh_fails(catalog: Catalog) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get("/v1/incident_statuses").mock(return_value=statuses(LIVE))
        await catalog.statuses()
        with pytest.raises(CatalogLookupError, match="'Investigating' \\(live\\)"):
            await catalog.status_by_name("Closed")
    assert route.call_count == 2


async def test_severity_for_resolves_and_refreshes_on_an_unknown_id(catalog: Catalog) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get("/v1/severities").mock(
            side_effect=[
                severities(severity_json("Minor", 1), severity_json("Critical", 3)),
                severities(
                    severity_json("Minor", 1), severity_json("Critical", 3), severity_json("Major", 2)
                ),
                severities(severity_json("Minor", 1)),
            ]
        )
        assert (await catalog.severity_for("Critical")).id == "sev-critical"
        assert (await catalog.severity_for("Low", severity_map={"low": "Minor"})).id == "sev-minor"
        assert route.call_count == 1
        assert (await catalog.severity_for("High", severity_id="sev-major")).name == "Major"
        assert route.call_count == 2
        with pytest.raises(CatalogLookupError, match="severity id 'gone' does not exist"):
            await catalog.severity_for("High", severity_id="gone")
    assert route.call_count == 3


async def test_severity_for_with_no_severities_fails_precisely(catalog: Catalog) -> None:
    with respx.mock(base_url=BASE) as api:
        api.get("/v1/severities").mock(return_value=severities())
        with pytest.raises(CatalogLookupError, match="no severities configured"):
            await catalog.severity_for("High")


async def test_incident_types_default_and_lookup(catalog: Catalog) -> None:
    outage = incident_type_json("Outage", "t-outage", is_default=True)
    other = incident_type_json("Security", "t-sec")
    new = incident_type_json("Data", "t-data")
    with respx.mock(base_url=BASE) as api:
        route = api.get("/v1/incident_types").mock(
            side_effect=[types(outage, other), types(outage, other, new), types(outage)]
        )
        default = await catalog.default_incident_type()
        assert default is not None and default.id == "t-outage"
        assert (await catalog.incident_type("t-sec")).name == "Security"
        assert route.call_count == 1
        assert (await catalog.incident_type("t-data")).name == "Data"
        assert route.call_count == 2
        with pytest.raises(
            CatalogLookupError, match=r"incident type id 't-x' does not exist.*'Outage' \(id t-outage\)"
        ):
            await catalog.incident_type("t-x")
        assert route.call_count == 3


async def test_no_default_incident_type_is_none(catalog: Catalog) -> None:
    with respx.mock(base_url=BASE) as api:
        api.get("/v1/incident_types").mock(return_value=types(incident_type_json("Security", "t-sec")))
        assert await catalog.default_incident_type() is None


async def test_invalidate_forgets_everything(catalog: Catalog) -> None:
    with respx.mock(base_url=BASE) as api:
        route = api.get("/v1/incident_statuses").mock(return_value=statuses(LIVE))
        await catalog.statuses()
        catalog.invalidate()
        await catalog.statuses()
    assert route.call_count == 2


async def test_callers_cannot_corrupt_the_cache(catalog: Catalog) -> None:
    with respx.mock(base_url=BASE) as api:
        api.get("/v1/incident_statuses").mock(return_value=statuses(LIVE))
        (await catalog.statuses()).clear()
        assert len(await catalog.statuses()) == 1


async def test_critical_rule_without_a_critical_takes_the_highest_and_says_so_once(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    with respx.mock(base_url=BASE) as api:
        api.get("/v1/severities").mock(return_value=severities(severity_json("Minor", 1), severity_json("SEV1", 5)))
        with caplog.at_level("WARNING"):
            assert (await catalog.severity_for("Low")).name == "SEV1"
            assert (await catalog.severity_for("High")).name == "SEV1"
            assert (await catalog.severity_for("High", severity_rule="Mapped")).name == "Minor"
    notes = [r for r in caplog.records if "no incident.io severity is named Critical" in r.getMessage()]
    assert len(notes) == 1
