"""Causely severities: order, case-insensitive parsing, the threshold."""

from __future__ import annotations

import pytest

from causely_incidentio.severities import CauselySeverity, meets_threshold, parse


def test_rank_orders_low_to_critical() -> None:
    ranks = [s.rank for s in (CauselySeverity.LOW, CauselySeverity.MEDIUM, CauselySeverity.HIGH,
                              CauselySeverity.CRITICAL)]
    assert ranks == [1, 2, 3, 4]


@pytest.mark.parametrize("text", ["critical", "CRITICAL", "Critical", " Critical "])
def test_parse_is_case_insensitive(text: str) -> None:
    assert parse(text) is CauselySeverity.CRITICAL
    assert CauselySeverity.parse(text) is CauselySeverity.CRITICAL


@pytest.mark.parametrize("text", ["Severe", "", "Hi"])
def test_parse_rejects_unknown_and_lists_the_allowed_values(text: str) -> None:
    with pytest.raises(ValueError, match="Critical, High, Medium, Low"):
        parse(text)


@pytest.mark.parametrize(
    ("sev", "minimum", "expected"),
    [
        (CauselySeverity.CRITICAL, CauselySeverity.HIGH, True),
        (CauselySeverity.HIGH, CauselySeverity.HIGH, True),
        (CauselySeverity.MEDIUM, CauselySeverity.HIGH, False),
        (CauselySeverity.LOW, CauselySeverity.LOW, True),
        (CauselySeverity.LOW, CauselySeverity.MEDIUM, False),
    ],
)
def test_meets_threshold(sev: CauselySeverity, minimum: CauselySeverity, expected: bool) -> None:
    assert meets_threshold(sev, minimum) is expected


def test_value_is_causely_spelling() -> None:
    assert str(CauselySeverity.HIGH) == "High"
