"""The spec-derived validators: request bodies, query strings, responses, and the organisation's shapes."""

from __future__ import annotations

from typing import Any

import pytest

from causely_incidentio.simulator import spec
from causely_incidentio.simulator.app import ROUTES
from causely_incidentio.simulator.errors import FieldError
from causely_incidentio.simulator.organisation import Organisation

VALID_CREATE = {"idempotency_key": "k1", "visibility": "public", "name": "DB down", "severity_id": "S"}


def fields(errors: list[FieldError]) -> dict[str | None, str]:
    return {e.field: e.code for e in errors}


def test_every_route_is_an_operation_of_the_vendored_spec() -> None:
    for method, path, _ in ROUTES:
        op = spec.operation(method, path)
        assert op.response_status == 200
        assert spec.resolved_schema(op.response_schema)["type"] == "object"


def test_operations_name_the_documented_schemas() -> None:
    create = spec.operation("POST", "/v2/incidents")
    assert (create.request_schema, create.response_schema) == ("IncidentsCreatePayloadV2", "IncidentsCreateResultV2")
    edit = spec.operation("POST", "/v2/incidents/{id}/actions/edit")
    assert edit.request_schema == "IncidentsEditPayloadV2"
    listing = spec.operation("GET", "/v2/incidents")
    assert listing.response_schema == "IncidentsListResultV2"
    assert {p["name"] for p in listing.parameters} >= {"page_size", "after", "status_category", "mode"}


def test_a_valid_create_payload_has_no_errors() -> None:
    assert spec.validator("IncidentsCreatePayloadV2", True).errors(VALID_CREATE) == []


def test_missing_required_fields_are_named() -> None:
    errors = spec.validator("IncidentsCreatePayloadV2").errors({"name": "x"})
    assert fields(errors) == {"idempotency_key": "is_required", "visibility": "is_required"}
    assert "visibility is required" in [e.message for e in errors]


def test_bad_enum_and_type_are_named() -> None:
    errors = spec.validator("IncidentsCreatePayloadV2").errors({**VALID_CREATE, "visibility": "secret", "name": 3})
    assert fields(errors) == {"visibility": "invalid_value", "name": "invalid_type"}


def test_nested_errors_use_a_dotted_path() -> None:
    errors = spec.validator("IncidentsEditPayloadV2").errors(
        {"incident": {"severity_id": 7}, "notify_incident_channel": "yes"}
    )
    assert fields(errors) == {"incident.severity_id": "invalid_type", "notify_incident_channel": "invalid_type"}


def test_array_items_use_an_index() -> None:
    body = {**VALID_CREATE, "custom_field_entries": [{"custom_field_id": "F"}]}
    errors = spec.validator("IncidentsCreatePayloadV2").errors(body)
    assert fields(errors) == {"custom_field_entries[0].values": "is_required"}


def test_strict_validation_rejects_unknown_fields_at_any_depth() -> None:
    body = {"incident": {"status_id": "x"}, "notify_incident_channel": True, "extra": 1}
    assert spec.validator("IncidentsEditPayloadV2", False).errors(body) == []
    errors = spec.validator("IncidentsEditPayloadV2", True).errors(body)
    assert fields(errors) == {"incident.status_id": "unknown_field", "extra": "unknown_field"}


def test_date_time_format_is_checked() -> None:
    stamp = {"incident_timestamp_id": "T", "value": "yesterday"}
    payload: dict[str, Any] = {**VALID_CREATE, "incident_timestamp_values": [stamp]}
    errors = spec.validator("IncidentsCreatePayloadV2").errors(payload)
    assert fields(errors) == {"incident_timestamp_values[0].value": "invalid_format"}
    stamp["value"] = "2024-05-01T10:00:00.123456Z"
    assert spec.validator("IncidentsCreatePayloadV2").errors(payload) == []


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("2021-08-17T13:28:57.801578Z", True),
        ("2021-08-17T13:28:57+02:00", True),
        ("2021-02-30T13:28:57Z", False),
        ("2021-08-17 13:28:57Z", False),
        ("2021-08-17T13:28:57", False),
        ("2021-08-17T13:28:57+25:00", False),
    ],
)
def test_rfc3339(text: str, ok: bool) -> None:
    assert spec.is_rfc3339(text) is ok


def test_a_non_object_body_is_reported_without_a_field() -> None:
    errors = spec.validator("IncidentsCreatePayloadV2").errors(["not", "an", "object"])
    assert [(e.field, e.code) for e in errors] == [(None, "invalid_type")]


def test_response_validator_catches_a_missing_required_field() -> None:
    org = Organisation()
    assert spec.validator("SeveritiesListResultV1").errors({"severities": org.severities}) == []
    broken = [{k: v for k, v in s.items() if k != "rank"} for s in org.severities]
    assert fields(spec.validator("SeveritiesListResultV1").errors({"severities": broken})) == {
        "severities[0].rank": "is_required",
        "severities[1].rank": "is_required",
        "severities[2].rank": "is_required",
    }


def test_the_default_organisation_matches_the_spec() -> None:
    org = Organisation()
    assert spec.validator("IncidentStatusesListResultV1").errors({"incident_statuses": org.statuses}) == []
    assert spec.validator("IncidentTypesListResultV1").errors({"incident_types": org.incident_types}) == []
    for field in org.custom_fields:
        assert spec.validator("CustomFieldTypeInfoV2").errors(field) == []
    for ts in org.timestamps:
        assert spec.validator("IncidentTimestampV2").errors(ts) == []


# ------------------------------------------------------------------------------------------- query strings


def parse(items: list[tuple[str, str]], strict: bool = True) -> tuple[dict[str, object], dict[str | None, str]]:
    parsed, errors = spec.query_validator("GET", "/v2/incidents", strict).parse(items)
    return parsed, fields(errors)


def test_deep_object_filters_are_grouped_and_repeated_keys_collected() -> None:
    parsed, errors = parse([
        ("mode[one_of]", "standard"), ("mode[one_of]", "test"), ("status_category[not_in]", "closed"),
        ("page_size", "50"), ("after", "01ABC"), ("custom_field[F1][one_of]", "x"),
    ])
    assert errors == {}
    assert parsed == {
        "mode": {"one_of": ["standard", "test"]},
        "status_category": {"not_in": ["closed"]},
        "page_size": 50,
        "after": "01ABC",
        "custom_field": {"F1": {"one_of": ["x"]}},
    }


def test_a_filter_without_an_operator_is_rejected() -> None:
    _, errors = parse([("status_category", "live")])
    assert errors == {"status_category": "invalid_parameter"}


def test_a_non_integer_page_size_is_a_type_error() -> None:
    _, errors = parse([("page_size", "ten")])
    assert errors == {"page_size": "invalid_type"}


def test_empty_scalar_values_count_as_absent() -> None:
    parsed, errors = parse([("page_size", ""), ("after", "")])
    assert (parsed, errors) == ({}, {})


def test_bad_enum_in_the_query_is_named() -> None:
    _, errors = parse([("sort_by", "random")])
    assert errors == {"sort_by": "invalid_value"}


def test_unknown_parameters_are_errors_only_when_strict() -> None:
    assert parse([("statuscategory[one_of]", "live")], strict=True)[1] == {
        "statuscategory[one_of]": "unknown_parameter"
    }
    assert parse([("statuscategory[one_of]", "live")], strict=False) == ({}, {})


def test_a_scalar_parameter_given_twice_is_rejected() -> None:
    _, errors = parse([("page_size", "5"), ("page_size", "6")])
    assert errors == {"page_size": "invalid_parameter"}


def test_validators_are_cached() -> None:
    assert spec.validator("IncidentsCreatePayloadV2", True) is spec.validator("IncidentsCreatePayloadV2", True)
    assert spec.load_spec() is spec.load_spec()
