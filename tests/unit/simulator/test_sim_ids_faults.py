"""ULID-shaped ids and the fault plan."""

from __future__ import annotations

import pytest

from causely_incidentio.simulator.faults import FaultPlan
from causely_incidentio.simulator.ids import CROCKFORD, UlidFactory, encode, stable_id


def test_encode_is_26_crockford_characters() -> None:
    assert encode(0) == "0" * 26
    assert encode((1 << 128) - 1) == "7" + "Z" * 25
    assert set(stable_id("x")) <= set(CROCKFORD)


def test_stable_ids_are_deterministic_and_look_like_the_spec_examples() -> None:
    assert stable_id("severity:Minor") == stable_id("severity:Minor")
    assert stable_id("severity:Minor") != stable_id("severity:Major")
    assert stable_id("severity:Minor").startswith("01FDA")


def test_ulids_increase_even_within_one_millisecond() -> None:
    factory = UlidFactory(clock=lambda: 1_700_000_000.0, seed=1)
    ids = [factory.new() for _ in range(100)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 100


def test_ulids_follow_the_clock() -> None:
    now = [1_700_000_000.0]
    factory = UlidFactory(clock=lambda: now[0], seed=1)
    first = factory.new()
    now[0] += 1
    assert factory.new() > first


def test_fault_rule_is_used_count_times() -> None:
    plan = FaultPlan()
    plan.add(2, "503")
    assert [r.kind if r else None for r in (plan.take("GET", "/v1/x") for _ in range(3))] == ["503", "503", None]
    assert plan.pending == []


def test_fault_rules_can_be_limited_to_a_method_and_path_prefix() -> None:
    plan = FaultPlan()
    plan.add(1, "reset", method="post", path_prefix="/v2/incidents")
    assert plan.take("GET", "/v2/incidents") is None
    assert plan.take("POST", "/v1/identity") is None
    rule = plan.take("POST", "/v2/incidents/01X/actions/edit")
    assert rule is not None and rule.kind == "reset"


def test_oldest_matching_rule_first() -> None:
    plan = FaultPlan()
    plan.add(1, "500")
    plan.add(1, "429")
    first, second = plan.take("GET", "/"), plan.take("GET", "/")
    assert (first.kind if first else None, second.kind if second else None) == ("500", "429")


@pytest.mark.parametrize(("count", "kind", "after"), [(1, "404", False), (-1, "500", False), (1, "429", True)])
def test_invalid_rules_are_refused(count: int, kind: str, after: bool) -> None:
    with pytest.raises(ValueError):
        FaultPlan().add(count, kind, after_processing=after)


def test_zero_count_adds_nothing() -> None:
    plan = FaultPlan()
    plan.add(0, "500")
    assert plan.pending == []
