"""Incidents: creation rules, idempotency, edits and their status rules, and the IncidentV2 rendering."""

from __future__ import annotations

from typing import Any

import pytest
from sim_fakes import ACTOR, Clock

from causely_incidentio.simulator import spec
from causely_incidentio.simulator.errors import ApiError
from causely_incidentio.simulator.organisation import Organisation, incident_type
from causely_incidentio.simulator.state import IncidentStore


@pytest.fixture
def store() -> IncidentStore:
    return IncidentStore(Organisation(), public_url="http://sim.test", clock=Clock(), id_seed=7)


def ids(store: IncidentStore) -> dict[str, str]:
    org = store.organisation
    return {
        **{s["name"]: s["id"] for s in org.statuses},
        **{s["name"]: s["id"] for s in org.severities},
    }


def create(store: IncidentStore, key: str = "k1", **extra: Any) -> dict[str, Any]:
    payload = {"idempotency_key": key, "visibility": "public", "name": "DB down",
               "severity_id": ids(store)["Minor"], **extra}
    record, _ = store.create(payload, ACTOR)
    return store.to_json(record)


def errors_of(exc: pytest.ExceptionInfo[ApiError]) -> dict[str | None, str]:
    return {e.field: e.code for e in exc.value.errors}


def test_a_new_incident_has_every_required_field_and_sensible_defaults(store: IncidentStore) -> None:
    incident = create(store)
    assert spec.validator("IncidentV2").errors(incident) == []
    assert incident["reference"] == "INC-1"
    assert incident["permalink"] == "http://sim.test/incidents/1"
    assert incident["incident_status"]["name"] == "Investigating"
    assert incident["incident_type"]["name"] == "Default"
    assert "owning_team_ids" not in incident["incident_type"]  # IncidentTypeV2 has none
    assert incident["creator"] == ACTOR
    assert incident["mode"] == "standard"
    assert incident["slack_channel_id"] == ""
    assert incident["slack_channel_name"] == "inc-1-db-down"
    reported = {v["incident_timestamp"]["name"]: v.get("value") for v in incident["incident_timestamp_values"]}
    assert reported["Reported at"] == {"value": incident["created_at"]}
    assert reported["Resolved at"] is None


def test_references_count_up(store: IncidentStore) -> None:
    assert [create(store, f"k{i}")["reference"] for i in range(3)] == ["INC-1", "INC-2", "INC-3"]


def test_same_key_returns_the_current_state_of_the_original(store: IncidentStore) -> None:
    first = create(store, "same")
    store.close(first["id"], "Resolved")
    record, created = store.create({"idempotency_key": "same", "visibility": "private", "name": "other"}, ACTOR)
    assert not created
    assert record.id == first["id"]
    assert store.to_json(record)["incident_status"]["name"] == "Resolved"
    assert len(store) == 1


def test_a_severity_is_required_for_an_active_incident(store: IncidentStore) -> None:
    with pytest.raises(ApiError) as exc:
        store.create({"idempotency_key": "k", "visibility": "public"}, ACTOR)
    assert exc.value.status == 422
    assert errors_of(exc) == {"severity_id": "is_required"}
    assert exc.value.errors[0].message == "A severity is required to open an incident"
    assert len(store) == 0


def test_triage_incidents_need_no_severity(store: IncidentStore) -> None:
    record, _ = store.create(
        {"idempotency_key": "k", "visibility": "public", "incident_status_id": ids(store)["Triage"]}, ACTOR
    )
    assert store.to_json(record)["incident_status"]["category"] == "triage"
    assert "severity" not in store.to_json(record)


def test_unknown_ids_are_422_naming_each_field(store: IncidentStore) -> None:
    with pytest.raises(ApiError) as exc:
        store.create({"idempotency_key": "k", "visibility": "public", "severity_id": "S?",
                      "incident_type_id": "T?", "incident_status_id": "X?"}, ACTOR)
    assert errors_of(exc) == {"severity_id": "not_found", "incident_type_id": "not_found",
                              "incident_status_id": "not_found"}


@pytest.mark.parametrize("status", ["Closed", "Fixed", "Declined", "Paused"])
def test_a_standard_incident_cannot_start_resolved_or_managed(store: IncidentStore, status: str) -> None:
    with pytest.raises(ApiError) as exc:
        create(store, incident_status_id=ids(store)[status])
    assert errors_of(exc) == {"incident_status_id": "invalid_value"}


def test_a_retrospective_incident_can_start_closed(store: IncidentStore) -> None:
    incident = create(store, mode="retrospective", incident_status_id=ids(store)["Closed"])
    assert incident["incident_status"]["category"] == "closed"
    stamps = {v["incident_timestamp"]["name"] for v in incident["incident_timestamp_values"] if "value" in v}
    assert stamps == {"Reported at", "Resolved at", "Closed at"}


def test_private_only_types_need_private_visibility() -> None:
    org = Organisation(incident_types=[incident_type("Security", is_default=True, private_incidents_only=True)])
    store = IncidentStore(org)
    with pytest.raises(ApiError) as exc:
        store.create({"idempotency_key": "k", "visibility": "public", "severity_id": org.severities[0]["id"]}, ACTOR)
    assert errors_of(exc) == {"visibility": "invalid_value"}


def test_types_that_always_triage_start_in_triage() -> None:
    org = Organisation(incident_types=[incident_type("Triaged", is_default=True, create_in_triage="always")])
    store = IncidentStore(org)
    record, _ = store.create({"idempotency_key": "k", "visibility": "public"}, ACTOR)
    assert store.to_json(record)["incident_status"]["name"] == "Triage"


def test_custom_fields_are_stored_and_rendered(store: IncidentStore) -> None:
    org = store.organisation
    root, link = org.custom_fields
    incident = create(store, custom_field_entries=[
        {"custom_field_id": root["id"], "values": [{"value_text": "disk full"}]},
        {"custom_field_id": link["id"], "values": [{"value_link": "https://causely.example/p/1"}]},
    ])
    assert incident["custom_field_entries"] == [
        {"custom_field": root, "values": [{"value_text": "disk full"}]},
        {"custom_field": link, "values": [{"value_link": "https://causely.example/p/1"}]},
    ]
    assert spec.validator("IncidentV2").errors(incident) == []


def test_bad_custom_fields_and_roles_are_named(store: IncidentStore) -> None:
    root = store.organisation.custom_fields[0]
    with pytest.raises(ApiError) as exc:
        create(store, custom_field_entries=[
            {"custom_field_id": "nope", "values": []},
            {"custom_field_id": root["id"], "values": [{"value_link": "https://x"}]},
        ], incident_role_assignments=[{"incident_role_id": "R"}])
    assert errors_of(exc) == {
        "custom_field_entries[0].custom_field_id": "not_found",
        "custom_field_entries[1].values[0].value_text": "is_required",
        "incident_role_assignments[0].incident_role_id": "not_found",
    }


# ------------------------------------------------------------------------------------------------ edits


def edit(store: IncidentStore, ref: str, **changes: Any) -> dict[str, Any]:
    return store.to_json(store.edit(ref, {"incident": changes, "notify_incident_channel": False}))


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (["Fixing"], True),
        (["Fixed"], True),
        (["Resolved"], True),
        (["Fixed", "Documenting"], True),
        (["Fixed", "Closed"], True),
        (["Resolved", "Closed"], True),
        (["Triage"], False),
        (["Declined"], False),
        (["Resolved", "Investigating"], False),
        (["Fixed", "Monitoring"], False),
        (["Closed", "Fixed"], False),
    ],
)
def test_status_transitions(store: IncidentStore, path: list[str], allowed: bool) -> None:
    incident = create(store)
    *before, last = path
    for name in before:
        edit(store, incident["id"], incident_status_id=ids(store)[name])
    if allowed:
        assert edit(store, incident["id"], incident_status_id=ids(store)[last])["incident_status"]["name"] == last
    else:
        with pytest.raises(ApiError) as exc:
            edit(store, incident["id"], incident_status_id=ids(store)[last])
        assert errors_of(exc) == {"incident.incident_status_id": "invalid_transition"}


def test_a_triage_incident_can_be_resolved(store: IncidentStore) -> None:
    record, _ = store.create(
        {"idempotency_key": "k", "visibility": "public", "incident_status_id": ids(store)["Triage"]}, ACTOR)
    assert edit(store, record.id, incident_status_id=ids(store)["Resolved"])["incident_status"]["name"] == "Resolved"


def test_resolving_sets_the_resolved_timestamp_once(store: IncidentStore) -> None:
    incident = create(store)
    fixed = edit(store, incident["id"], incident_status_id=ids(store)["Fixed"])
    closed = edit(store, incident["id"], incident_status_id=ids(store)["Closed"])

    def stamp(inc: dict[str, Any], name: str) -> Any:
        return next(v.get("value", {}).get("value") for v in inc["incident_timestamp_values"]
                    if v["incident_timestamp"]["name"] == name)

    assert stamp(fixed, "Resolved at") == fixed["updated_at"]
    assert stamp(closed, "Resolved at") == fixed["updated_at"]
    assert stamp(closed, "Closed at") == closed["updated_at"]


def test_only_given_fields_change(store: IncidentStore) -> None:
    incident = create(store, summary="first")
    edited = edit(store, incident["id"], severity_id=ids(store)["Critical"], name="renamed")
    assert edited["severity"]["name"] == "Critical"
    assert edited["name"] == "renamed"
    assert edited["summary"] == "first"
    assert edited["incident_status"] == incident["incident_status"]
    assert edited["updated_at"] > incident["updated_at"]
    assert edited["created_at"] == incident["created_at"]


def test_edit_names_unknown_ids_under_incident(store: IncidentStore) -> None:
    incident = create(store)
    with pytest.raises(ApiError) as exc:
        edit(store, incident["id"], severity_id="S?", incident_status_id="X?")
    assert errors_of(exc) == {"incident.severity_id": "not_found", "incident.incident_status_id": "not_found"}


def test_edit_of_an_unknown_incident_is_404(store: IncidentStore) -> None:
    with pytest.raises(ApiError) as exc:
        edit(store, "01NOPE", name="x")
    assert exc.value.status == 404 and exc.value.type == "not_found"


def test_edit_accepts_the_numeric_reference_but_not_the_inc_prefix(store: IncidentStore) -> None:
    create(store)
    assert edit(store, "1", name="by number")["name"] == "by number"
    with pytest.raises(ApiError):
        edit(store, "INC-1", name="x")


def test_find_by_id_reference_and_prefix(store: IncidentStore) -> None:
    incident = create(store)
    assert store.find(incident["id"]) is store.find("1") is store.find("INC-1") is store.find("inc-1")
    assert store.find("INC-1", allow_prefix=False) is None
    assert store.find("2") is None


def test_close_moves_anywhere_without_rules(store: IncidentStore) -> None:
    incident = create(store)
    store.close(incident["id"], "Closed")
    assert store.to_json(store.close("INC-1", "investigating"))["incident_status"]["name"] == "Investigating"
    with pytest.raises(ValueError, match="Fixed"):
        store.close("1", "Nope")
    with pytest.raises(KeyError):
        store.close("9")


def test_reset_forgets_incidents_and_keys(store: IncidentStore) -> None:
    create(store, "k")
    store.reset()
    assert len(store) == 0
    assert create(store, "k")["reference"] == "INC-1"
