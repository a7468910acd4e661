"""Intake limits: what parse_notification accepts must be deliverable, and nothing else may escape it.

Each case here was accepted (or crashed the parser with something other than InvalidInput or
PayloadSyntaxError) before the limits existed: a lone surrogate failed every create forever, a timestamp
after 2262 overflowed the journal, a sender could set ``timestamp_ns``, and list trimming was quadratic.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from domain_fixtures import payload_dict

from causely_incidentio import render
from causely_incidentio.payload import (
    MAX_LIST_ITEMS,
    MAX_NESTING,
    MAX_TIMESTAMP_NS,
    MIN_TIMESTAMP_NS,
    PayloadSyntaxError,
    format_timestamp_ns,
    parse_notification,
)
from causely_incidentio.problems import InvalidInput


def base() -> dict[str, Any]:
    return payload_dict("detected-high-slo")


def fields_of(data: dict[str, Any] | str | bytes) -> list[str]:
    with pytest.raises(InvalidInput) as info:
        parse_notification(data)
    return [p.where for p in info.value.problems]


class TestTextThatCannotBeEncoded:
    @pytest.mark.parametrize(("path", "where"), [
        (("name",), "name"),
        (("customName",), "customName"),
        (("objectId",), "objectId"),
        (("description", "summary"), "description.summary"),
        (("description", "details"), "description.details"),
        (("entity", "name"), "entity.name"),
        (("link",), "link"),
        (("labels", "k8s.cluster.name"), "labels.k8s.cluster.name"),
    ])
    def test_a_lone_surrogate_is_refused_naming_the_field(self, path: tuple[str, ...], where: str) -> None:
        data = base()
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = "ok \ud800 text"
        assert fields_of(json.dumps(data)) == [where]

    def test_in_a_remediation_option_and_an_unknown_field(self) -> None:
        data = base()
        data["description"]["remediationOptions"] = [{"title": "fine"}, {"title": "\udfff"}]
        data["someFutureField"] = {"note": "\ud83d"}  # the first half of an emoji, alone
        assert sorted(fields_of(json.dumps(data))) == ["description.remediationOptions[1].title",
                                                       "someFutureField.note"]

    def test_a_key_that_cannot_be_encoded_is_named_escaped(self) -> None:
        data = base()
        data["labels"]["bad\ud800key"] = "v"
        (where,) = fields_of(json.dumps(data))
        assert where == "labels.bad\\ud800key"
        where.encode("utf-8")  # the answer itself must be encodable

    def test_listed_with_the_other_problems_of_the_same_payload(self) -> None:
        data = base() | {"name": "\ud800", "severity": "Catastrophic"}
        assert sorted(fields_of(json.dumps(data))) == ["name", "severity"]

    def test_surrogate_pairs_and_other_unicode_are_fine(self) -> None:
        data = base() | {"name": "disk \ud83d\ude00 full — ünïcödé 漢字", "customName": "\u0000nul"}
        n = parse_notification(json.dumps(data))
        assert n.name == "disk 😀 full — ünïcödé 漢字"
        render.render_summary(n).encode("utf-8")

    def test_a_mapping_given_directly_is_checked_too(self) -> None:
        assert fields_of(base() | {"objectId": "a\udc80b"}) == ["objectId"]


class TestTimestampRange:
    @pytest.mark.parametrize("ts", [
        "2262-04-12T00:00:00Z", "2300-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
        "1677-09-20T23:59:59Z", "1600-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-23:59",  # overflows the calendar once moved to UTC (OverflowError before)
        "0001-01-01T00:00:00+23:59",
    ])
    def test_outside_int64_nanoseconds_is_a_422_naming_timestamp(self, ts: str) -> None:
        with pytest.raises(InvalidInput) as info:
            parse_notification(base() | {"timestamp": ts})
        (problem,) = info.value.problems
        assert problem.where == "timestamp" and "range" in problem.what
        assert problem.expected is not None and "1677-09-21" in problem.expected

    def test_a_number_read_as_unix_time_is_range_checked_too(self) -> None:
        assert fields_of(base() | {"timestamp": 10_000_000_000_000}) == ["timestamp"]  # ms: year 2286

    def test_the_edges_are_accepted_and_round_trip(self) -> None:
        low = parse_notification(base() | {"timestamp": "1677-09-21T00:12:43.145225Z"})
        high = parse_notification(base() | {"timestamp": "2262-04-11T23:47:16.854775Z"})
        assert low.timestamp_ns == MIN_TIMESTAMP_NS and high.timestamp_ns == MAX_TIMESTAMP_NS
        assert format_timestamp_ns(MAX_TIMESTAMP_NS) == "2262-04-11T23:47:16.854775Z"
        assert MIN_TIMESTAMP_NS >= -(2**63) and MAX_TIMESTAMP_NS <= 2**63 - 1
        assert fields_of(base() | {"timestamp": "2262-04-11T23:47:16.854775001Z"}) == ["timestamp"]


class TestSenderCannotSetTimestampNs:
    def test_without_a_timestamp(self) -> None:
        data = base()
        del data["timestamp"]
        assert parse_notification(data | {"timestamp_ns": 5}).timestamp_ns is None

    def test_with_a_timestamp(self) -> None:
        expected = parse_notification(base()).timestamp_ns
        assert parse_notification(base() | {"timestamp_ns": 2**62}).timestamp_ns == expected

    def test_nor_out_of_range(self) -> None:
        data = base()
        del data["timestamp"]
        assert parse_notification(data | {"timestamp_ns": 2**70}).timestamp_ns is None


class TestBodiesThatCrashedTheParser:
    def test_deep_nesting_is_a_syntax_error_not_a_recursion_error(self) -> None:
        body = '{"type": "ProblemDetected", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
        with pytest.raises(PayloadSyntaxError, match="nested"):
            parse_notification(body.encode())

    def test_nesting_beyond_the_limit_is_named(self) -> None:
        deep: Any = "leaf"
        for _ in range(MAX_NESTING + 5):
            deep = {"d": deep}
        assert fields_of(json.dumps(base() | {"extra": deep})) == ["extra" + ".d" * (MAX_NESTING - 1)]
        fine: Any = "leaf"
        for _ in range(MAX_NESTING - 1):
            fine = [fine]
        parse_notification(json.dumps(base() | {"extra": fine}))

    def test_deep_nesting_in_a_label_value(self) -> None:
        # Before: accepted by json.loads, then json.dumps in the label coercion could exhaust the stack.
        deep: Any = 1
        for _ in range(900):
            deep = [deep]
        assert fields_of(json.dumps(base() | {"labels": {"x": deep}}))[0].startswith("labels.x[0]")

    def test_an_integer_over_the_digit_limit(self) -> None:
        body = json.dumps(base()).replace('"severity": "High"', '"severity": ' + "9" * 5000)
        with pytest.raises(PayloadSyntaxError, match="digits"):
            parse_notification(body)

    def test_a_big_integer_under_the_limit_is_reported_not_raised(self) -> None:
        assert fields_of(json.dumps(base() | {"severity": 10**4000})) == ["severity"]

    @pytest.mark.parametrize("ts", ["2025-01-01T00:00:00+99:00", "2025-13-45T25:61:61Z", "9999-99-99T99:99:99Z"])
    def test_impossible_times_are_422(self, ts: str) -> None:
        assert fields_of(base() | {"timestamp": ts}) == ["timestamp"]

    def test_a_huge_list_in_a_bad_field_is_described_not_dumped(self) -> None:
        with pytest.raises(InvalidInput) as info:
            parse_notification(base() | {"severity": list(range(100_000))})
        assert len(info.value.message) < 500


class TestListCaps:
    def test_remediation_options_and_slos_are_cut_and_counted(self) -> None:
        data = base()
        data["description"]["remediationOptions"] = [{"title": f"t{i}"} for i in range(MAX_LIST_ITEMS + 250)]
        data["slos"] = [{"status": "AT_RISK", "slo_entity": {"name": f"s{i}"}} for i in range(MAX_LIST_ITEMS + 7)]
        n = parse_notification(json.dumps(data))
        assert len(n.description.remediation_options) == MAX_LIST_ITEMS
        assert n.description.omitted_remediation_options == 250
        assert len(n.slos) == MAX_LIST_ITEMS and n.omitted_slos == 7

    def test_the_summary_counts_what_was_cut(self) -> None:
        data = base()
        data["description"]["remediationOptions"] = [{"title": "t"} for _ in range(MAX_LIST_ITEMS + 5)]
        data["slos"] = []
        summary = render.render_summary(parse_notification(data), limit_bytes=1_000_000)
        assert "- … 5 more remediation options in Causely" in summary
        assert summary.count("\n- t") == MAX_LIST_ITEMS

    def test_under_the_cap_nothing_changes(self) -> None:
        n = parse_notification(base())
        assert n.description.omitted_remediation_options == 0 and n.omitted_slos == 0


class TestRenderingIsLinear:
    """No timing: the bytes measured by ``_size`` while shrinking stand for the work done."""

    @pytest.mark.parametrize("options", [1000, 4000])
    def test_work_grows_with_the_input_not_its_square(self, options: int, monkeypatch: pytest.MonkeyPatch) -> None:
        data = base()
        data["description"]["remediationOptions"] = [
            {"title": f"Option {i}", "description": "Scale the deployment up and watch the error rate."}
            for i in range(options)
        ]
        data["slos"] = [{"status": "AT_RISK", "slo_entity": {"name": f"slo-{i}"}} for i in range(options // 4)]
        body = json.dumps(data)
        n = parse_notification(body)
        measured = 0
        original = render._size

        def counting(text: str) -> int:
            nonlocal measured
            measured += len(text)
            return original(text)

        monkeypatch.setattr(render, "_size", counting)
        summary = render.render_summary(n)
        assert len(summary.encode()) <= render.SUMMARY_LIMIT_BYTES
        assert measured < 20 * len(body)  # quadratic trimming measured ~(items/2) × the list, over 100×


def test_a_raw_surrogate_in_a_str_body_is_found_too() -> None:
    """A ``str`` (not bytes) may hold the surrogate itself rather than its ``\\ud800`` escape."""
    body = json.dumps(base(), ensure_ascii=False).replace('"Malfunction"', '"bad \ud800"')
    assert fields_of(body) == ["name"]


def test_broken_json_full_of_escaped_quotes_is_refused_before_any_screening() -> None:
    """A screen run on broken JSON could take quadratic time (each escaped quote a new string start)."""
    with pytest.raises(PayloadSyntaxError):
        parse_notification("[" * 40 + '"' + '\\"' * 200_000)
