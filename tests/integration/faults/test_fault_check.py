"""The generator is deterministic per seed and the judge catches each kind of broken invariant (pure, fast)."""

from __future__ import annotations

from datetime import timedelta

from fault_check import API_TOKEN, RECEIVER_TOKEN, Observed, check
from fault_schedule import BASE_TIME, MODES, Note, generate

OID = "00000000-0000-4000-8000-00000000abcd"
KEY = f"causely-incidentio/secret/causely/primary/{OID}"


def note(i: int, kind: str, minutes: int, occurrence: int = 1, severity: str = "High") -> Note:
    return Note(i, OID, f"Problem{kind}", severity, BASE_TIME + timedelta(minutes=minutes), occurrence)


def incident(occurrence: int, category: str, key_occurrence: int | None = None) -> dict[str, object]:
    return {"key": f"{KEY}/{key_occurrence or occurrence}", "category": category,
            "summaries": [f"fault-suite {OID} occurrence-{occurrence} note-0"]}


def test_the_same_seed_gives_the_same_schedule_and_seeds_differ() -> None:
    for mode in MODES:
        a, b = generate(7, mode), generate(7, mode)
        assert a.notes == b.notes and a.steps == b.steps and a.faults == b.faults
    assert generate(7, "inproc").steps != generate(8, "inproc").steps


def test_schedules_cover_every_fault_kind() -> None:
    kinds: set[str] = set()
    for seed in range(1, 120):
        for mode in MODES:
            kinds.update(k.removesuffix("-after-processing") for k in generate(seed, mode).faults)
    expected = {"api-500", "api-503", "api-429", "api-timeout", "api-reset", "journal-write-accept",
                "journal-write-outcome", "crash", "kill-9", "sighup-yaml-error", "sighup-invalid-destination",
                "duplicate", "reorder", "delay", "kube-conflict", "kube-500", "kube-503", "kube-timeout",
                "leader-change"}
    assert expected <= kinds, expected - kinds
    assert any(k.endswith("-after-processing") for s in range(1, 50) for k in generate(s, "inproc").faults)


def test_occurrences_follow_causelys_order_with_a_detected_before_a_clear_of_the_same_time() -> None:
    for seed in range(1, 150):
        last: dict[str, Note] = {}
        for n in sorted(generate(seed, "inproc").notes, key=lambda n: (n.object_id, n.order)):
            prev = last.get(n.object_id)
            if prev is not None:
                assert prev.order < n.order
                new = n.type == "ProblemDetected" and prev.type == "ProblemCleared"
                assert n.occurrence == prev.occurrence + (1 if new else 0)
            last[n.object_id] = n


def test_a_clean_run_passes() -> None:
    notes = [note(0, "Detected", 0), note(1, "Cleared", 5), note(2, "Detected", 9, 2, "Low")]
    seen = Observed(accepted={0, 1, 2}, incidents=[incident(1, "closed"), incident(2, "live")],
                    records={OID: {"state": "open", "severity": "Low"}})
    assert check(notes, seen) == []


def test_a_lost_resolve_is_caught() -> None:
    notes = [note(0, "Detected", 0), note(1, "Cleared", 5)]
    seen = Observed(accepted={0, 1}, incidents=[incident(1, "live")], records={OID: {"state": "open"}})
    problems = check(notes, seen)
    assert any("a resolve was lost" in p for p in problems)


def test_a_second_incident_for_one_occurrence_is_caught() -> None:
    notes = [note(0, "Detected", 0), note(1, "Cleared", 5)]
    seen = Observed(accepted={0, 1}, incidents=[incident(1, "closed"), incident(1, "closed", key_occurrence=2)],
                    records={OID: {"state": "resolved"}})
    assert any("occurrence 1 has 2 incidents" in p for p in check(notes, seen))


def test_the_last_notification_decides_not_the_last_to_arrive() -> None:
    notes = [note(0, "Detected", 0, severity="High"), note(1, "Updated", 3, severity="Critical")]
    seen = Observed(accepted={0, 1}, incidents=[incident(1, "live")],
                    records={OID: {"state": "open", "severity": "High"}})  # the older one applied last
    assert any("at that severity" in p for p in check(notes, seen))


def test_a_202_routed_nowhere_a_stuck_action_and_a_token_in_any_output_are_caught() -> None:
    notes = [note(0, "Cleared", 0)]
    seen = Observed(accepted={0}, routed_nowhere={0}, records={OID: {"state": "cleared-unknown"}},
                    pending=[f"{OID} seq 1"],
                    outputs={"logs": f"Bearer {RECEIVER_TOKEN}", "journal": f"key={API_TOKEN}", "other": "fine"})
    problems = check(notes, seen)
    assert any("routed to no destination" in p for p in problems)
    assert any("still pending" in p for p in problems)
    assert any("receiver token appears in logs" in p for p in problems)
    assert any("API key appears in journal" in p for p in problems)
    assert not any("other" in p for p in problems)
