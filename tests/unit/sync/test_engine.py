"""The decision table, row by row, then swept exhaustively for the invariants the product promises."""

from __future__ import annotations

import itertools

import pytest
from sync_helpers import OBJECT_ID, make_dest, note

from causely_incidentio.sync.engine import Kind, decide, idempotency_key
from causely_incidentio.sync.records import ENDED, HAS_INCIDENT, FindingRecord, State

T0 = "2026-01-01T00:00:00.000000001Z"
T0_NS = 1767225600000000001


def rec(state: State, severity: str = "High", ts_ns: int | None = T0_NS, occurrence: int = 1) -> FindingRecord:
    has = state in HAS_INCIDENT or state in ENDED
    return FindingRecord(
        "env", OBJECT_ID, state=state, occurrence=occurrence, severity=severity, last_ts_ns=ts_ns,
        incident_id="01INC" if has else None, reference="INC-1" if has else None,
    )


def test_row1_stale_notification_is_ignored_whatever_the_state() -> None:
    for state in State:
        d = decide(rec(state, ts_ns=T0_NS + 10), note(ts=T0), make_dest())
        assert (d.kind, d.reason, d.row) == (Kind.IGNORE, "stale", 1)


def test_stale_detected_after_its_clear_opens_nothing() -> None:
    cleared_unknown = rec(State.CLEARED_UNKNOWN, ts_ns=T0_NS + 1_000_000_000)
    assert decide(cleared_unknown, note("ProblemDetected", ts=T0), make_dest()).kind is Kind.IGNORE


def test_nanosecond_ordering_is_respected() -> None:
    d = decide(rec(State.OPEN, ts_ns=T0_NS + 1), note("ProblemUpdated", ts=T0), make_dest())
    assert d.reason == "stale"


def test_row2_same_timestamp_is_a_duplicate() -> None:
    d = decide(rec(State.OPEN), note("ProblemUpdated", severity="Critical", ts=T0), make_dest())
    assert (d.kind, d.reason, d.row) == (Kind.IGNORE, "duplicate", 2)


def test_row3_detected_again_same_severity_is_a_duplicate() -> None:
    d = decide(rec(State.OPEN), note("ProblemDetected", ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.row) == (Kind.IGNORE, 3)


def test_row4_detected_with_new_severity_or_after_clear_updates() -> None:
    d = decide(rec(State.OPEN), note("ProblemDetected", "Critical", ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.row) == (Kind.UPDATE, 4)
    d = decide(rec(State.CLEARED_LEFT_OPEN), note("ProblemDetected", ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.row) == (Kind.UPDATE, 4)


def test_row5_updated_on_open_incident_updates_even_below_threshold_or_filtered() -> None:
    dest = make_dest(filters=[{"field": "severity", "operator": "equals", "value": "Critical"}])
    d = decide(rec(State.OPEN), note("ProblemUpdated", "Low", ts="2026-01-01T00:01:00Z"), dest)
    assert (d.kind, d.row) == (Kind.UPDATE, 5)


def test_row6_cleared_resolves_when_a_resolved_status_is_configured() -> None:
    dest = make_dest(filters=[{"field": "severity", "operator": "equals", "value": "Critical"}])
    d = decide(rec(State.OPEN), note("ProblemCleared", "Low", ts="2026-01-01T00:01:00Z"), dest)
    assert (d.kind, d.row) == (Kind.RESOLVE, 6)


def test_row7_cleared_without_resolved_status_is_recorded_only() -> None:
    d = decide(rec(State.OPEN), note("ProblemCleared", ts="2026-01-01T00:01:00Z"), make_dest(resolved=None))
    assert (d.kind, d.row) == (Kind.MARK_CLEARED, 7)


@pytest.mark.parametrize("state", [None, State.SKIPPED, State.RESOLVED, State.CLOSED_OUTSIDE, State.FAILED])
def test_row8_cleared_without_an_incident_is_a_noop(state: State | None) -> None:
    d = decide(rec(state) if state else None, note("ProblemCleared", ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.reason, d.row) == (Kind.IGNORE, "no-incident", 8)


def test_row9_filters_reject() -> None:
    dest = make_dest(filters=[{"field": "labels.k8s.cluster.name", "operator": "equals", "value": "staging"}])
    d = decide(None, note(), dest)
    assert (d.kind, d.reason, d.row) == (Kind.SKIP, "filtered", 9)


def test_row10_below_threshold_is_skipped_even_when_filters_let_it_through() -> None:
    dest = make_dest(filters=[{"field": "severity", "operator": "in", "value": ["Low", "Medium"]}])
    d = decide(None, note(severity="Medium"), dest)
    assert (d.kind, d.reason, d.row) == (Kind.SKIP, "below-threshold", 10)


def test_min_severity_is_configurable() -> None:
    assert decide(None, note(severity="Medium"), make_dest(min_severity="Medium")).kind is Kind.CREATE
    assert decide(None, note(severity="High"), make_dest(min_severity="Critical")).kind is Kind.SKIP


@pytest.mark.parametrize("severity", ["High", "Critical"])
def test_row11_high_and_critical_create_by_default(severity: str) -> None:
    d = decide(None, note(severity=severity), make_dest())
    assert (d.kind, d.occurrence, d.row) == (Kind.CREATE, 1, 11)


def test_updated_raising_to_threshold_without_incident_creates() -> None:
    d = decide(rec(State.SKIPPED, "Low"), note("ProblemUpdated", "High", ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.reason, d.occurrence) == (Kind.CREATE, "raised", 1)


def test_failed_create_is_retried_with_the_same_occurrence() -> None:
    d = decide(rec(State.FAILED), note(ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.occurrence) == (Kind.CREATE, 1)


@pytest.mark.parametrize("state", sorted(ENDED))
def test_redetection_after_end_opens_a_new_occurrence(state: State) -> None:
    d = decide(rec(state, occurrence=3), note(ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.occurrence) == (Kind.CREATE, 4)
    skipped = decide(rec(state, occurrence=3), note(severity="Low", ts="2026-01-01T00:01:00Z"), make_dest())
    assert (skipped.kind, skipped.occurrence) == (Kind.SKIP, 4)


@pytest.mark.parametrize("state", sorted(ENDED))
def test_row12_an_update_after_the_incident_ended_is_recorded_not_acted_on(state: State) -> None:
    # A human declined or closed the incident of a still-active finding: later updates open nothing.
    d = decide(rec(state, occurrence=3), note("ProblemUpdated", "Critical", ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.reason, d.row, d.occurrence) == (Kind.IGNORE, "ended-this-occurrence", 12, 3)


@pytest.mark.parametrize("state", sorted(ENDED))
def test_an_update_newer_than_the_clear_that_ended_it_is_a_late_redetection(state: State) -> None:
    """The Detected of the next occurrence is late or lost: the Updated stamped after the clear opens it."""
    cleared = rec(state, occurrence=3).copy(last_type="ProblemCleared")
    d = decide(cleared, note("ProblemUpdated", "Critical", ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.occurrence) == (Kind.CREATE, 4)
    # a human's decision still stands: an Updated after a human closed a live finding's incident opens nothing
    updated = rec(state, occurrence=3).copy(last_type="ProblemUpdated")
    d = decide(updated, note("ProblemUpdated", "Critical", ts="2026-01-01T00:01:00Z"), make_dest())
    assert (d.kind, d.row) == (Kind.IGNORE, 12)


def test_a_clear_after_a_close_recorded_while_our_resolve_was_in_flight_is_our_resolve() -> None:
    """A replica recorded "closed outside" while another leader's resolve (marked write-ahead) was unrecorded:
    the clear resolves (and finds it resolved: the operator's), instead of leaving it a human's."""
    closed = rec(State.CLOSED_OUTSIDE, occurrence=2).copy(resolve_attempted=2)
    d = decide(closed, note("ProblemCleared", ts="2026-01-01T00:01:00Z"), make_dest(resolved="Resolved"))
    assert (d.kind, d.row) == (Kind.RESOLVE, 6)
    human = rec(State.CLOSED_OUTSIDE, occurrence=2)
    d = decide(human, note("ProblemCleared", ts="2026-01-01T00:01:00Z"), make_dest(resolved="Resolved"))
    assert d.kind is Kind.IGNORE


def test_idempotency_key_is_stable_and_distinct_per_destination_and_occurrence() -> None:
    k = idempotency_key("secret/causely/a", OBJECT_ID, 1)
    assert k == idempotency_key("secret/causely/a", OBJECT_ID, 1)
    assert k != idempotency_key("secret/causely/b", OBJECT_ID, 1)
    assert k != idempotency_key("secret/causely/a", OBJECT_ID, 2)
    assert OBJECT_ID in k


TYPES = ["ProblemDetected", "ProblemUpdated", "ProblemCleared"]
SEVERITIES = ["Critical", "High", "Medium", "Low"]
TIMES = {"older": "2025-12-31T23:59:59Z", "same": T0, "newer": "2026-01-01T00:00:01Z"}


@pytest.mark.parametrize("resolved", ["Resolved", None])
@pytest.mark.parametrize("filtered", [False, True])
def test_exhaustive_sweep_keeps_every_promise(resolved: str | None, filtered: bool) -> None:
    filters = [{"field": "name", "operator": "equals", "value": "Other"}] if filtered else []
    dest = make_dest(resolved=resolved, filters=filters)
    states: list[State | None] = [None, *State]
    for state, ntype, sev, (when, ts) in itertools.product(states, TYPES, SEVERITIES, TIMES.items()):
        r = rec(state, ts_ns=T0_NS, occurrence=2) if state else None
        d = decide(r, note(ntype, sev, ts=ts), dest)
        ctx = (state, ntype, sev, when, resolved, filtered, d)
        has_incident = r is not None and r.has_incident
        if r is not None and when == "older":
            assert d.kind is Kind.IGNORE, ctx  # never act on stale news
            continue
        if has_incident:
            assert d.kind not in (Kind.CREATE, Kind.SKIP), ctx  # never a second incident, never stranded
            if ntype == "ProblemCleared":
                assert d.kind is (Kind.RESOLVE if resolved else Kind.MARK_CLEARED), ctx
        else:
            assert d.kind not in (Kind.UPDATE, Kind.RESOLVE, Kind.MARK_CLEARED), ctx
            if ntype == "ProblemCleared" or (state in ENDED and ntype == "ProblemUpdated"):
                assert d.kind is Kind.IGNORE, ctx  # row 12: only a re-detection reopens an ended finding
            elif filtered or sev in ("Medium", "Low"):
                assert d.kind is Kind.SKIP, ctx
            else:
                assert d.kind is Kind.CREATE, ctx
        if d.kind is Kind.RESOLVE:
            assert resolved, ctx
        expected_occurrence = 3 if (state in ENDED and d.kind in (Kind.CREATE, Kind.SKIP)) else (2 if r else 1)
        assert d.occurrence == expected_occurrence, ctx
