"""The decision table when receivers own the occurrence (Kubernetes Findings: ``spec.occurrence``)."""

from __future__ import annotations

from sync_helpers import OBJECT_ID, make_dest, note

from causely_incidentio.sync.engine import Kind, decide, decide_for_occurrence
from causely_incidentio.sync.records import FindingRecord, State

T1 = "2026-01-01T00:00:01Z"
T1_NS = 1767225601000000000


def rec(state: State, occurrence: int = 1, incident: bool = True) -> FindingRecord:
    return FindingRecord("env", OBJECT_ID, state=state, occurrence=occurrence, severity="High", last_ts_ns=1,
                         incident_id="01" if incident else None, reference="INC-1" if incident else None)


def test_without_an_occurrence_it_is_the_plain_table() -> None:
    for state in State:
        r = rec(state)
        assert decide_for_occurrence(r, note("ProblemUpdated", ts=T1), make_dest(), None) == decide(
            r, note("ProblemUpdated", ts=T1), make_dest()
        )


def test_an_update_after_a_human_closed_the_incident_is_recorded_not_acted_on() -> None:
    # issue: the second ProblemUpdated after a human declined/closed the incident opened a new one
    for state in (State.CLOSED_OUTSIDE, State.RESOLVED):
        d = decide_for_occurrence(rec(state), note("ProblemUpdated", "Critical", ts=T1), make_dest(), 1)
        assert (d.kind, d.reason, d.row, d.occurrence) == (Kind.IGNORE, "ended-this-occurrence", 12, 1)
        # a repeated Detected of the same occurrence too (standalone cannot tell it from a re-detection)
        d = decide_for_occurrence(rec(state), note("ProblemDetected", "Critical", ts=T1), make_dest(), 1)
        assert (d.kind, d.row) == (Kind.IGNORE, 12)


def test_a_new_occurrence_after_an_ended_incident_creates_with_its_own_key() -> None:
    d = decide_for_occurrence(rec(State.CLOSED_OUTSIDE), note("ProblemDetected", ts=T1), make_dest(), 2)
    assert (d.kind, d.occurrence) == (Kind.CREATE, 2)
    d = decide_for_occurrence(None, note("ProblemDetected", ts=T1), make_dest(), 3)
    assert (d.kind, d.occurrence) == (Kind.CREATE, 3)


def test_a_flap_never_delivered_keeps_the_open_incident() -> None:
    # Detected → Cleared → Detected, the clear superseded before delivery: one incident tells the story
    d = decide_for_occurrence(rec(State.OPEN), note("ProblemDetected", ts=T1), make_dest(), 2)
    assert d.kind is Kind.IGNORE and d.occurrence == 2
    d = decide_for_occurrence(rec(State.OPEN), note("ProblemDetected", "Critical", ts=T1), make_dest(), 2)
    assert (d.kind, d.occurrence) == (Kind.UPDATE, 2)


def test_a_clear_for_an_ended_occurrence_changes_nothing() -> None:
    d = decide_for_occurrence(rec(State.RESOLVED), note("ProblemCleared", ts=T1), make_dest(), 1)
    assert d.kind is Kind.IGNORE


def test_skipped_then_raised_in_the_same_occurrence_creates() -> None:
    d = decide_for_occurrence(rec(State.SKIPPED, incident=False), note("ProblemUpdated", "Critical", ts=T1),
                              make_dest(), 1)
    assert (d.kind, d.occurrence) == (Kind.CREATE, 1)


def test_a_create_sent_for_the_new_occurrence_is_recovered_by_its_clear() -> None:
    """Fault seed kube 13: the old leader sent occurrence 2's create, the new leader sees occurrence 1's resolved
    record with the write-ahead mark for 2; the clear must replay that create's key, not be ignored."""
    resolved = rec(State.RESOLVED).copy(create_attempted=2)
    d = decide_for_occurrence(resolved, note("ProblemCleared", ts=T1), make_dest(), 2)
    assert (d.kind, d.row, d.occurrence) == (Kind.RECOVER, 13, 2)


def test_an_earlier_occurrences_unrecorded_create_is_recovered_when_the_spec_moved_on() -> None:
    """Fault seed kube 13: a leader sent occurrence 1's create and died before recording it; the next leader
    sees occurrence 2's clear. The incident may be live: replay occurrence 1's key and resolve it."""
    pending = FindingRecord("env", OBJECT_ID, state=State.PENDING, occurrence=1, create_attempted=1)
    d = decide_for_occurrence(pending, note("ProblemCleared", ts=T1), make_dest(), 2)
    assert (d.kind, d.row, d.occurrence) == (Kind.RECOVER, 13, 1)
    d = decide_for_occurrence(pending, note("ProblemDetected", "Critical", ts=T1), make_dest(), 2)
    assert (d.kind, d.occurrence) == (Kind.CREATE, 1)  # the same key: the incident, if it exists, carries over
