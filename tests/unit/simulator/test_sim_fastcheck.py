"""The compiled check agrees with jsonschema on the spec's schemas, for valid documents and many broken ones."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from causely_incidentio.simulator import spec
from causely_incidentio.simulator.fastcheck import Unsupported, compile_schema
from causely_incidentio.simulator.organisation import Organisation
from causely_incidentio.simulator.state import IncidentStore

REPLACEMENTS: tuple[Any, ...] = (None, 1, 1.5, True, "x", [], {}, "2021-13-01T00:00:00Z", "A" * 60, -1, 10**6)


def sample_incident() -> dict[str, Any]:
    store = IncidentStore(Organisation(), public_url="http://sim.test")
    org = store.organisation
    root = org.custom_fields[0]["id"]
    record, _ = store.create({
        "idempotency_key": "k", "visibility": "public", "name": "n", "summary": "s",
        "severity_id": org.severities[0]["id"],
        "custom_field_entries": [{"custom_field_id": root, "values": [{"value_text": "t"}]}],
    }, {"api_key": {"id": "a", "name": "b"}})
    store.close(record.id, "Fixed")
    return store.to_json(record)


def samples() -> list[tuple[str, Any]]:
    org = Organisation()
    incident = sample_incident()
    return [
        ("IncidentsCreateResultV2", {"incident": incident}),
        ("IncidentsListResultV2", {"incidents": [incident],
                                   "pagination_meta": {"page_size": 2, "after": "x", "total_record_count": 3}}),
        ("SeveritiesListResultV1", {"severities": org.severities}),
        ("IncidentTypesListResultV1", {"incident_types": org.incident_types}),
        ("IncidentStatusesListResultV1", {"incident_statuses": org.statuses[:2]}),
        ("UtilitiesIdentityResultV1", {"identity": {"name": "k", "roles": ["viewer"], "dashboard_url": "u",
                                                    "team_roles": [], "teams": [{"id": "t", "name": "n"}]}}),
        ("IncidentsCreatePayloadV2", {
            "idempotency_key": "k", "visibility": "private", "mode": "test", "name": "n", "summary": "s",
            "severity_id": "S", "incident_type_id": "T", "incident_status_id": "X",
            "custom_field_entries": [{"custom_field_id": "F", "values": [{"value_text": "t", "value_link": "l"}]}],
            "incident_role_assignments": [{"incident_role_id": "R", "assignee": {"email": "a@b.c"}}],
            "incident_timestamp_values": [{"incident_timestamp_id": "T", "value": "2021-08-17T13:28:57Z"}],
            "retrospective_incident_options": {"external_id": 3, "postmortem_document_url": "u"},
        }),
        ("IncidentsEditPayloadV2", {"incident": {"incident_status_id": "X", "severity_id": "S", "name": "n",
                                                 "call_url": "c"}, "notify_incident_channel": True}),
    ]


def mutations(doc: Any) -> Iterator[Any]:
    """Every document that differs from ``doc`` in one place: a value replaced, a key removed or added."""
    def paths(node: Any, here: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        yield here
        if isinstance(node, dict):
            for key, value in node.items():
                yield from paths(value, (*here, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from paths(value, (*here, i))

    for path in paths(doc, ()):
        for replacement in (*REPLACEMENTS, "<delete>", "<add>"):
            mutated = copy.deepcopy(doc)
            if not path:
                if replacement == "<delete>":
                    continue
                yield {"extra": 1} if replacement == "<add>" else replacement
                continue
            parent = mutated
            for step in path[:-1]:
                parent = parent[step]
            last = path[-1]
            if replacement == "<delete>":
                if isinstance(parent, dict):
                    del parent[last]
                    yield mutated
            elif replacement == "<add>":
                if isinstance(parent[last], dict):
                    parent[last]["unexpected_field"] = "x"
                    yield mutated
            else:
                parent[last] = replacement
                yield mutated


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(("name", "doc"), samples(), ids=[name for name, _ in samples()])
def test_fast_check_agrees_with_jsonschema(name: str, doc: Any, strict: bool) -> None:
    schema = spec.resolved_schema(name, strict)
    fast = compile_schema(schema, {"date-time": spec.is_rfc3339})
    slow = jsonschema.Draft4Validator(schema, format_checker=spec.FORMAT_CHECKER)
    assert fast(doc) and slow.is_valid(doc)
    checked = 0
    for mutated in mutations(doc):
        assert fast(mutated) == slow.is_valid(mutated), mutated
        checked += 1
    assert checked > 20


def test_every_simulator_validator_uses_the_fast_path() -> None:
    from causely_incidentio.simulator.app import ROUTES

    for method, path, _ in ROUTES:
        op = spec.operation(method, path)
        for name in filter(None, (op.response_schema, op.request_schema)):
            assert spec.validator(name, True)._fast is not None
            assert spec.validator(name, False)._fast is not None


@pytest.mark.parametrize(
    ("schema", "value", "ok"),
    [
        ({"type": "integer"}, 1, True),
        ({"type": "integer"}, True, False),
        ({"type": "integer"}, 1.0, False),
        ({"type": "number"}, 1.5, True),
        ({"type": "number"}, False, False),
        ({"type": "boolean"}, 0, False),
        ({"maxLength": 2}, "abc", False),
        ({"maxLength": 2}, 123, True),
        ({"maximum": 5}, True, True),
        ({"maximum": 5}, 6, False),
        ({"required": ["a"]}, [], True),
        ({"enum": ["a"]}, "b", False),
        ({"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}}, {"a": "x", "b": 1},
         True),
        ({"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}}, {"b": "x"}, False),
    ],
)
def test_keyword_semantics_match_draft_4(schema: dict[str, Any], value: Any, ok: bool) -> None:
    assert compile_schema(schema, {})(value) is ok
    assert jsonschema.Draft4Validator(schema).is_valid(value) is ok


@pytest.mark.parametrize("schema", [{"oneOf": [{}]}, {"type": ["string", "null"]}, {"enum": [1]}, {"pattern": "x"}])
def test_unsupported_keywords_are_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        compile_schema(schema, {})


def test_a_validator_falls_back_to_jsonschema_for_unsupported_schemas() -> None:
    validator = spec.SchemaValidator("Custom", {"type": "object", "properties": {"a": {"pattern": "^x"}}})
    assert validator._fast is None
    assert validator.is_valid({"a": "xy"}) and not validator.is_valid({"a": "y"})
    assert [e.field for e in validator.errors({"a": "y"})] == ["a"]
