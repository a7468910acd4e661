"""Parsing Causely notifications: every published example, every required field, precise problems."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from domain_fixtures import PAYLOADS, VALID_PAYLOAD_NAMES, payload_dict

from causely_incidentio.payload import (
    Description,
    Notification,
    NotificationType,
    PayloadSyntaxError,
    format_timestamp_ns,
    parse_notification,
    parse_timestamp,
)
from causely_incidentio.problems import InvalidInput
from causely_incidentio.severities import CauselySeverity


def problems_of(data: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        parse_notification(data)
    assert info.value.subject == "notification"
    return {p.where: str(p) for p in info.value.problems}


@pytest.mark.parametrize("name", VALID_PAYLOAD_NAMES)
@pytest.mark.parametrize("form", ["bytes", "str", "dict"])
def test_every_published_payload_parses(name: str, form: str) -> None:
    raw = (PAYLOADS / f"{name}.json").read_bytes()
    data: Any = {"bytes": raw, "str": raw.decode(), "dict": json.loads(raw)}[form]
    n = parse_notification(data)
    source = json.loads(raw)
    assert n.object_id == source["objectId"]
    assert n.type.value == source["type"]
    assert n.severity.value == source["severity"]


@pytest.mark.parametrize("name", VALID_PAYLOAD_NAMES)
def test_model_dump_by_alias_round_trips(name: str) -> None:
    n = parse_notification(payload_dict(name))
    dumped = n.model_dump(by_alias=True, mode="json")
    assert "objectId" in dumped and "object_id" not in dumped
    assert "timestamp_ns" not in dumped
    again = parse_notification(dumped)
    assert again == n
    assert again.timestamp_ns == n.timestamp_ns
    assert dumped["timestamp"] == payload_dict(name)["timestamp"]


def test_legacy_string_description_is_rejected_for_its_missing_severity() -> None:
    problems = problems_of(payload_dict("legacy-string-description"))
    assert list(problems) == ["severity"]
    assert "required" in problems["severity"]
    assert "Critical, High, Medium, Low" in problems["severity"]


def test_legacy_string_description_becomes_the_summary() -> None:
    data = payload_dict("legacy-string-description") | {"severity": "High"}
    n = parse_notification(data)
    assert n.description == Description(summary="Multiple instances are experiencing malfunction")


def test_missing_description_is_empty() -> None:
    data = payload_dict("cleared")
    del data["description"]
    n = parse_notification(data)
    assert n.description.summary is None and n.description.remediation_options == []


def test_fields_of_the_slo_example() -> None:
    n = parse_notification(payload_dict("detected-high-slo"))
    assert n.type is NotificationType.DETECTED
    assert n.impacts_slo
    assert n.slos[0].status == "AT_RISK"
    assert n.slos[0].slo_entity is not None and n.slos[0].slo_entity.type == "RatioSLO"
    assert n.slos[0].related_entity is not None
    assert n.description.remediation_options[0].title == "Check Logs"
    assert n.entity is not None and n.entity.type == "ApplicationInstance"
    assert n.namespace == "istio-system" and n.cluster == "dev"


def test_updated_carries_old_severity() -> None:
    n = parse_notification(payload_dict("updated-low-to-high"))
    assert n.type is NotificationType.UPDATED
    assert n.old_severity is CauselySeverity.LOW and n.severity is CauselySeverity.HIGH
    assert not n.impacts_slo


def test_cleared_keeps_duration() -> None:
    n = parse_notification(payload_dict("cleared"))
    assert n.type is NotificationType.CLEARED
    assert n.duration_ns == 369506251438


@pytest.mark.parametrize(
    ("field", "json_name"),
    [("type", "type"), ("objectId", "objectId"), ("severity", "severity"), ("name", "name")],
)
def test_each_required_field_missing_is_named(field: str, json_name: str) -> None:
    data = payload_dict("detected-high-slo")
    del data[field]
    problems = problems_of(data)
    assert list(problems) == [json_name]
    assert "required" in problems[json_name]


@pytest.mark.parametrize("field", ["objectId", "name"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_required_strings_are_rejected(field: str, value: str) -> None:
    data = payload_dict("cleared") | {field: value}
    problems = problems_of(data)
    assert list(problems) == [field]
    assert "empty" in problems[field]


def test_bad_severity_says_what_is_allowed() -> None:
    problems = problems_of(payload_dict("cleared") | {"severity": "Severe"})
    assert "'Severe'" in problems["severity"]
    assert "one of Critical, High, Medium, Low" in problems["severity"]


def test_severity_is_case_insensitive() -> None:
    n = parse_notification(payload_dict("cleared") | {"severity": "critical", "old_severity": "LOW"})
    assert n.severity is CauselySeverity.CRITICAL
    assert n.old_severity is CauselySeverity.LOW


def test_invalid_old_severity_is_tolerated_as_none() -> None:
    n = parse_notification(payload_dict("updated-low-to-high") | {"old_severity": "Nope"})
    assert n.old_severity is None


def test_unknown_type_is_an_error_for_that_notification() -> None:
    problems = problems_of(payload_dict("cleared") | {"type": "ProblemSnoozed"})
    assert list(problems) == ["type"]
    assert "ProblemDetected, ProblemUpdated, ProblemCleared" in problems["type"]


def test_every_bad_field_is_reported_at_once() -> None:
    data = {"type": "X", "severity": "nope", "entity": {"type": 5}, "timestamp": "yesterday"}
    problems = problems_of(data)
    assert set(problems) == {"type", "objectId", "name", "severity", "entity.type", "timestamp"}
    assert "a string" in problems["entity.type"]
    assert "RFC 3339" in problems["timestamp"]


@pytest.mark.parametrize(("body", "kind"), [("[]", "array"), ('"text"', "string"), ("42", "number"),
                                            ("null", "null"), ("true", "boolean")])
def test_non_object_top_level_is_invalid_input(body: str, kind: str) -> None:
    problems = problems_of(body)
    assert kind in problems["(body)"]
    assert "JSON object" in problems["(body)"]


@pytest.mark.parametrize("body", ["{", "", "not json", b"\xff\xfe", '{"a": 1,}'])
def test_malformed_json_is_a_syntax_error_not_invalid_input(body: str | bytes) -> None:
    with pytest.raises(PayloadSyntaxError) as info:
        parse_notification(body)
    assert not isinstance(info.value, InvalidInput)


def test_syntax_error_gives_line_and_column() -> None:
    with pytest.raises(PayloadSyntaxError, match="line 2 column"):
        parse_notification('{"type": "ProblemCleared",\n oops}')


def test_unknown_fields_are_kept() -> None:
    data = payload_dict("cleared") | {"brandNewField": {"x": 1}}
    data["entity"]["extra"] = "kept"
    n = parse_notification(data)
    dumped = n.model_dump(by_alias=True)
    assert dumped["brandNewField"] == {"x": 1}
    assert dumped["entity"]["extra"] == "kept"


def test_labels_coerce_non_strings() -> None:
    data = payload_dict("cleared") | {"labels": {"a": 1, "b": True, "c": None, "d": "x", "e": 1.5}}
    n = parse_notification(data)
    assert n.labels == {"a": "1", "b": "true", "d": "x", "e": "1.5"}


def test_null_collections_are_empty() -> None:
    n = parse_notification(payload_dict("cleared") | {"labels": None, "slos": None, "description": None})
    assert n.labels == {} and n.slos == [] and n.description == Description()


def test_custom_name_is_preferred_for_the_title() -> None:
    assert parse_notification(payload_dict("cleared")).title == "Congested"
    n = parse_notification(payload_dict("cleared") | {"customName": "Checkout is congested"})
    assert n.title == "Checkout is congested"
    assert n.custom_name == "Checkout is congested"
    assert parse_notification(payload_dict("cleared") | {"customName": "  "}).title == "Congested"


def test_populate_by_name_accepts_python_names() -> None:
    n = Notification(type=NotificationType.CLEARED, object_id="x", name="n",
                     severity=CauselySeverity.LOW, custom_name="c")
    assert n.object_id == "x" and n.title == "c"
    assert n.model_dump(by_alias=True)["objectId"] == "x"


class TestTimestamps:
    def test_nanoseconds_are_kept(self) -> None:
        n = parse_notification(payload_dict("detected-high-slo"))
        assert n.timestamp == datetime(2024, 12, 13, 6, 43, 8, 309296, tzinfo=UTC)
        assert n.timestamp_ns is not None and n.timestamp_ns % 1000 == 138

    def test_ordering_within_one_microsecond_uses_nanoseconds(self) -> None:
        early = parse_notification(payload_dict("cleared") | {"timestamp": "2025-08-07T19:07:29.416709001Z"})
        late = parse_notification(payload_dict("cleared") | {"timestamp": "2025-08-07T19:07:29.416709002Z"})
        assert early.timestamp == late.timestamp
        assert early.timestamp_ns is not None and late.timestamp_ns is not None
        assert late.timestamp_ns - early.timestamp_ns == 1

    def test_offsets_are_normalised_to_utc(self) -> None:
        a = parse_notification(payload_dict("cleared") | {"timestamp": "2025-08-07T21:07:29.5+02:00"})
        b = parse_notification(payload_dict("cleared") | {"timestamp": "2025-08-07T19:07:29.5Z"})
        assert a.timestamp_ns == b.timestamp_ns
        assert a.timestamp is not None and a.timestamp.tzinfo is not None

    @pytest.mark.parametrize(
        ("text", "ns"),
        [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T00:00:01.000000001Z", 1_000_000_001),
            ("1970-01-01T00:00:00.5Z", 500_000_000),
            ("1970-01-01t00:00:00.123456789123z", 123_456_789),
            ("1970-01-01T00:00:00", 0),
        ],
    )
    def test_parse_timestamp(self, text: str, ns: int) -> None:
        assert parse_timestamp(text)[1] == ns

    def test_format_round_trips(self) -> None:
        assert format_timestamp_ns(parse_timestamp("2025-06-27T19:15:16.410543344Z")[1]) == (
            "2025-06-27T19:15:16.410543344Z"
        )
        assert format_timestamp_ns(0) == "1970-01-01T00:00:00Z"

    def test_missing_timestamp_is_none(self) -> None:
        data = payload_dict("cleared")
        del data["timestamp"]
        n = parse_notification(data)
        assert n.timestamp is None and n.timestamp_ns is None

    def test_datetime_given_directly_gets_nanoseconds(self) -> None:
        n = Notification(type=NotificationType.CLEARED, object_id="x", name="n", severity=CauselySeverity.LOW,
                         timestamp=datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC))
        assert n.timestamp_ns == 1_000_005_000


class TestLabelsHelpers:
    def test_namespace_prefers_causely_label(self) -> None:
        n = parse_notification(payload_dict("cleared") | {
            "labels": {"causely.ai/namespace": "a", "k8s.namespace.name": "b"}})
        assert n.namespace == "a"

    def test_namespace_falls_back_to_k8s_label(self) -> None:
        n = parse_notification(payload_dict("cleared") | {"labels": {"k8s.namespace.name": "b"}})
        assert n.namespace == "b"

    def test_cluster_prefers_k8s_label(self) -> None:
        n = parse_notification(payload_dict("ui-test-notification"))
        assert n.cluster == "my-important-services-cluster"
        n = parse_notification(payload_dict("cleared") | {"labels": {"causely.ai/cluster": "c"}})
        assert n.cluster == "c"

    def test_absent(self) -> None:
        n = parse_notification(payload_dict("cleared") | {"labels": {}})
        assert n.namespace is None and n.cluster is None and n.service is None
