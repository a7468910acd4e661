"""The live-schema overlay: how it is applied to the vendored spec, and what the simulator does with it.

That the overlay says exactly what incident.io's SDK says is checked in the ``sdk`` tier
(tests/sdk/test_sdk_schema.py); here, without the SDK, the mechanics and the simulator's side.
"""

from __future__ import annotations

from typing import Any

import pytest
from sim_fakes import ACTOR, Clock

from causely_incidentio.simulator import spec
from causely_incidentio.simulator.errors import FieldError, error_body, json_pointer
from causely_incidentio.simulator.organisation import Organisation
from causely_incidentio.simulator.overlay import OVERLAY_FILE, apply_overlay, load_overlay
from causely_incidentio.simulator.state import IncidentStore

COMPONENTS: dict[str, Any] = {
    "Thing": {"type": "object", "properties": {"id": {"type": "string"}, "old": {"type": "string"}},
              "required": ["id", "old"]},
}


def test_changed_components_get_new_properties_and_required_lists_and_lose_removed_ones() -> None:
    overlay = {"changed": {"Thing": {"properties": {"new": {"$ref": "#/components/schemas/Part"}},
                                     "required": ["id", "new"], "remove_properties": ["old"]}},
               "added": {"Part": {"type": "object", "properties": {}}}}
    merged = apply_overlay(COMPONENTS, overlay)
    assert merged["Thing"]["required"] == ["id", "new"]
    assert set(merged["Thing"]["properties"]) == {"id", "new"}
    assert "Part" in merged
    assert COMPONENTS["Thing"]["required"] == ["id", "old"]  # the input is left alone


@pytest.mark.parametrize(("overlay", "message"), [
    ({"changed": {"Nope": {"required": []}}}, "changed.Nope: the vendored spec has no component 'Nope'"),
    ({"added": {"Thing": {}}}, "added.Thing: the vendored spec already has 'Thing'"),
    ({"changed": {"Thing": {"requird": []}}}, "changed.Thing: unknown keys ['requird']"),
    ({"changed": {"Thing": {"required": ["id", "ghost"]}}}, "changed.Thing.required: ['ghost'] are not properties"),
    ({"changed": {"Thing": {"remove_properties": ["ghost"]}}}, "Thing has no property 'ghost'"),
    ({"changed": {"Thing": {"properties": {"x": {"$ref": "#/components/schemas/Ghost"}}}}},
     "Thing refers to '#/components/schemas/Ghost', which is no component"),
])
def test_an_overlay_that_does_not_fit_the_spec_is_refused_saying_where(overlay: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + OVERLAY_FILE) as exc:
        apply_overlay(COMPONENTS, overlay)
    assert message in str(exc.value)


def test_the_shipped_overlay_fits_the_vendored_spec_and_records_its_sdk() -> None:
    overlay = load_overlay()
    assert overlay["derived_from"]["package"] == "incident-io"
    assert overlay["derived_from"]["vendored_spec_sha256"] == (
        "322cf815dc69c4c3e0593db8259a64a9c2f334f011601b4ac4a1e1444ad79ed4")
    apply_overlay(spec.vendored_components(), overlay)


def test_incidents_require_the_live_fields_that_the_vendored_spec_does_not() -> None:
    assert not {"last_activity_at", "team_ids"} & set(spec.vendored_components()["IncidentV2"]["required"])
    assert {"last_activity_at", "team_ids"} <= set(spec.component("IncidentV2")["required"])
    assert "ErrorResponse" in spec.components() and "ErrorResponse" not in spec.vendored_components()


def test_the_simulators_incidents_carry_last_activity_at_and_team_ids() -> None:
    store = IncidentStore(Organisation(), clock=Clock(), id_seed=3)
    org = store.organisation
    severity = org.severities[0]["id"]
    record, _ = store.create({"idempotency_key": "k", "visibility": "public", "severity_id": severity}, ACTOR)
    created = store.to_json(record)
    assert created["team_ids"] == [] and created["last_activity_at"] == created["created_at"]
    assert spec.validator("IncidentV2").errors(created) == []
    without = {k: v for k, v in created.items() if k != "team_ids"}
    assert [e.field for e in spec.validator("IncidentV2").errors(without)] == ["team_ids"]

    edited = store.to_json(store.edit(record.id, {"incident": {"name": "renamed"}}))
    assert edited["last_activity_at"] == edited["updated_at"] > created["last_activity_at"]
    closed = store.to_json(store.close(record.id))
    assert closed["last_activity_at"] == closed["updated_at"] > edited["last_activity_at"]


@pytest.mark.parametrize(("field", "pointer"), [
    ("severity_id", "/severity_id"),
    ("incident.incident_status_id", "/incident/incident_status_id"),
    ("custom_field_entries[0].values[1].value_text", "/custom_field_entries/0/values/1/value_text"),
    ("status_category[one_of]", "/status_category/one_of"),
    ("a/b~c", "/a~1b~0c"),
])
def test_error_sources_carry_a_json_pointer_next_to_the_field(field: str, pointer: str) -> None:
    assert json_pointer(field) == pointer
    assert FieldError("invalid_value", "m", field).to_json()["source"] == {"field": field, "pointer": pointer}


def test_error_bodies_are_checked_against_the_live_error_response() -> None:
    good = error_body(422, "validation_error", "req-1", [FieldError("is_required", "m", "name")])
    assert spec.validator("ErrorResponse").errors(good) == []
    unknown_type = error_body(403, "authorization_error", "req-1", [FieldError("forbidden", "m")])
    assert [e.field for e in spec.validator("ErrorResponse").errors(unknown_type)] == ["type"]
