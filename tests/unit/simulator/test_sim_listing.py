"""GET /v2/incidents selection: filters, default mode, ordering and cursor pagination."""

from __future__ import annotations

from typing import Any

import pytest
from sim_fakes import ACTOR, Clock

from causely_incidentio.simulator.errors import ApiError
from causely_incidentio.simulator.listing import parse_list_query, select
from causely_incidentio.simulator.organisation import Organisation
from causely_incidentio.simulator.state import IncidentStore


@pytest.fixture
def store() -> IncidentStore:
    return IncidentStore(Organisation(), clock=Clock(), id_seed=3)


def add(store: IncidentStore, n: int, **extra: Any) -> list[str]:
    org = store.organisation
    severity = org.severity_by_name(extra.pop("severity", "Minor"))
    assert severity is not None
    refs = []
    for _ in range(n):
        payload = {"idempotency_key": f"k{len(store)}", "visibility": "public", "severity_id": severity["id"],
                   **extra}
        record, _ = store.create(payload, ACTOR)
        refs.append(record.reference)
    return refs


def page(store: IncidentStore, **params: Any) -> tuple[list[str], str | None, int]:
    result = select(list(store), parse_list_query(params, store))
    return [r.reference for r in result.incidents], result.after, result.total


def codes(store: IncidentStore, **params: Any) -> dict[str | None, str]:
    with pytest.raises(ApiError) as exc:
        parse_list_query(params, store)
    assert exc.value.status == 422
    return {e.field: e.code for e in exc.value.errors}


def test_newest_first_with_a_default_page_of_25(store: IncidentStore) -> None:
    add(store, 30)
    refs, after, total = page(store)
    assert refs[0] == "INC-30" and len(refs) == 25
    assert after is not None and total == 30


def test_three_pages_and_no_cursor_on_the_last(store: IncidentStore) -> None:
    add(store, 7)
    seen: list[str] = []
    cursors: list[str | None] = []
    after = None
    for _ in range(3):
        refs, after, _ = page(store, page_size=3, **({"after": after} if after else {}))
        seen += refs
        cursors.append(after)
    assert seen == [f"INC-{n}" for n in range(7, 0, -1)]
    assert cursors[0] is not None and cursors[1] is not None and cursors[2] is None


def test_a_page_that_exactly_ends_the_list_has_no_cursor(store: IncidentStore) -> None:
    add(store, 4)
    assert page(store, page_size=4)[1] is None
    assert page(store, page_size=2)[1] is not None


def test_oldest_first(store: IncidentStore) -> None:
    add(store, 3)
    refs, after, _ = page(store, sort_by="created_at_oldest_first", page_size=2)
    assert refs == ["INC-1", "INC-2"]
    assert page(store, sort_by="created_at_oldest_first", after=after)[0] == ["INC-3"]


def test_the_cursor_survives_the_incident_leaving_the_filter(store: IncidentStore) -> None:
    add(store, 4)
    live = {"status_category": {"one_of": ["live"]}}
    refs, after, _ = page(store, page_size=2, **live)
    store.close(refs[-1], "Closed")
    assert page(store, page_size=2, after=after, **live)[0] == ["INC-2", "INC-1"]


def test_test_and_tutorial_incidents_are_hidden_by_default(store: IncidentStore) -> None:
    add(store, 1)
    add(store, 1, mode="test")
    add(store, 1, mode="tutorial")
    add(store, 1, mode="retrospective")
    assert page(store)[0] == ["INC-4", "INC-1"]
    assert page(store, mode={"one_of": ["test"]})[0] == ["INC-2"]
    assert page(store, mode={"one_of": ["test", "tutorial", "standard"]})[0] == ["INC-3", "INC-2", "INC-1"]


def test_status_category_one_of_and_not_in(store: IncidentStore) -> None:
    add(store, 3)
    store.close("INC-1", "Fixed")
    store.close("INC-2", "Closed")
    assert page(store, status_category={"one_of": ["live"]})[0] == ["INC-3"]
    assert page(store, status_category={"one_of": ["learning", "closed"]})[0] == ["INC-2", "INC-1"]
    assert page(store, status_category={"not_in": ["closed"]})[0] == ["INC-3", "INC-1"]
    assert page(store, status_category={"one_of": ["live"]})[2] == 1


def test_status_and_type_filters(store: IncidentStore) -> None:
    org = store.organisation
    outage = org.incident_type_by_name("Production Outage")["id"]  # type: ignore[index]
    add(store, 1)
    add(store, 1, incident_type_id=outage)
    fixing = org.status_by_name("Fixing")["id"]  # type: ignore[index]
    store.close("INC-1", "Fixing")
    assert page(store, status={"one_of": [fixing]})[0] == ["INC-1"]
    assert page(store, incident_type={"one_of": [outage]})[0] == ["INC-2"]
    assert page(store, incident_type={"not_in": [outage]})[0] == ["INC-1"]


def test_severity_rank_filters(store: IncidentStore) -> None:
    add(store, 1, severity="Minor")
    add(store, 1, severity="Major")
    add(store, 1, severity="Critical")
    major = store.organisation.severity_by_name("Major")["id"]  # type: ignore[index]
    assert page(store, severity={"gte": [major]})[0] == ["INC-3", "INC-2"]
    assert page(store, severity={"lte": [major]})[0] == ["INC-2", "INC-1"]
    assert page(store, severity={"one_of": [major]})[0] == ["INC-2"]


def test_filter_mode_any_combines_with_or(store: IncidentStore) -> None:
    add(store, 1, severity="Critical")
    add(store, 1, severity="Minor")
    add(store, 1, severity="Minor")
    store.close("INC-2", "Closed")
    critical = store.organisation.severity_by_name("Critical")["id"]  # type: ignore[index]
    filters = {"severity": {"one_of": [critical]}, "status_category": {"one_of": ["closed"]}}
    assert page(store, **filters)[0] == []
    assert page(store, filter_mode="any", **filters)[0] == ["INC-2", "INC-1"]


def test_date_filters(store: IncidentStore) -> None:
    add(store, 1)  # the fake clock is in 2023-11-14
    assert page(store, created_at={"gte": ["2023-11-14"]})[0] == ["INC-1"]
    assert page(store, created_at={"lte": ["2023-11-13"]})[0] == []
    assert page(store, updated_at={"date_range": ["2023-11-01~2023-11-30"]})[0] == ["INC-1"]


def test_custom_field_filters(store: IncidentStore) -> None:
    root = store.organisation.custom_fields[0]["id"]
    add(store, 1, custom_field_entries=[{"custom_field_id": root, "values": [{"value_text": "disk"}]}])
    add(store, 1)
    assert page(store, custom_field={root: {"one_of": ["disk"]}})[0] == ["INC-1"]
    assert page(store, custom_field={root: {"is_blank": ["true"]}})[0] == ["INC-2"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"page_size": 251}, {"page_size": "invalid_value"}),
        ({"page_size": 0}, {"page_size": "invalid_value"}),
        ({"after": "01NOSUCHINCIDENT"}, {"after": "invalid_value"}),
        ({"status_category": {"one_of": ["active"]}}, {"status_category[one_of]": "invalid_value"}),
        ({"status_category": {"is": ["live"]}}, {"status_category[is]": "invalid_operator"}),
        ({"mode": {"not_in": ["test"]}}, {"mode[not_in]": "invalid_operator"}),
        ({"mode": {"one_of": ["demo"]}}, {"mode[one_of]": "invalid_value"}),
        ({"severity": {"gte": ["nope"]}}, {"severity[gte]": "invalid_value"}),
        ({"status": {"one_of": ["nope"]}}, {"status[one_of]": "invalid_value"}),
        ({"created_at": {"gte": ["yesterday"]}}, {"created_at[gte]": "invalid_value"}),
        ({"created_at": {"after": ["2024-01-01"]}}, {"created_at[after]": "invalid_operator"}),
        ({"incident_role": {"R1": {"is_blank": ["true"]}}}, {"incident_role[R1]": "not_found"}),
        ({"custom_field": {"F?": {"one_of": ["x"]}}}, {"custom_field[F?]": "not_found"}),
    ],
)
def test_bad_parameters_are_named(store: IncidentStore, params: dict[str, Any], expected: dict[str, str]) -> None:
    assert codes(store, **params) == expected


def test_max_page_size_is_accepted(store: IncidentStore) -> None:
    add(store, 1)
    assert page(store, page_size=250)[0] == ["INC-1"]
