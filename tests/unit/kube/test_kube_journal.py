"""The Kubernetes-status journal: durable before returning, group commit, retries, restart, pruning, budget."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from kube_fakes import FakeStatusApi, PatchFailed, merge_patch

from causely_incidentio.kube import codec
from causely_incidentio.kube.journal import KubeStatusJournal
from causely_incidentio.sync.journal import HistoryEntry, JournalUnavailable
from causely_incidentio.sync.records import FindingRecord, Intake, PendingAction, State

DEST = "ns/dest"
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "payloads" / "detected-high-slo.json"
ODD = "pipe | percent % escaped %7C %25 newline\n tab\t quote \" unicode é ✓ ... end|"


def payload(oid: str) -> bytes:
    body = json.loads(FIXTURE.read_text())
    body["objectId"] = oid
    return json.dumps(body, indent=2).encode()


def intake(oid: str, at: float = 1_750_000_000.123) -> Intake:
    return Intake(DEST, oid, payload(oid), at)


def history(oid: str) -> HistoryEntry:
    return HistoryEntry(DEST, oid, "ProblemDetected", "create", "detected")


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> FakeStatusApi:
    return FakeStatusApi()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_journal(
    api: FakeStatusApi, clock: Clock
) -> AsyncIterator[Callable[..., KubeStatusJournal]]:
    journals: list[KubeStatusJournal] = []

    def make(status: dict[str, object] | None = None, **options: object) -> KubeStatusJournal:
        j = KubeStatusJournal(api, clock=clock, retry_delay=0.001, max_retry_delay=0.01, **options)  # type: ignore[arg-type]
        j.attach(DEST, "ns", "dest", api.status if status is None else status)
        journals.append(j)
        return j

    yield make
    for j in journals:
        await j.close()


def record(oid: str, state: State = State.OPEN, at: float = 1_750_000_000.0, **changes: object) -> FindingRecord:
    base = FindingRecord(
        DEST, oid, state=state, occurrence=1, incident_id=f"01J{oid.upper()}" if state is State.OPEN else None,
        reference="INC-7" if state is State.OPEN else None, severity="High", last_ts_ns=1_734_072_188_309_296_138,
        created_at=at, updated_at=at,
    )
    return base.copy(**changes)


# -- codec -----------------------------------------------------------------------------------------------
def test_pending_entry_round_trips_with_odd_characters_and_keeps_the_payload_byte_for_byte() -> None:
    action = PendingAction(42, DEST, "obj|%7C%", payload("a"), 1_750_000_000.125, attempts=3, last_error=ODD)
    key, value = codec.encode_pending(action)
    assert key == "0000000042"
    assert value.count(codec.SEP) == 5  # escaped text adds no separators
    assert codec.decode_pending(DEST, key, value) == action


def test_pending_entry_is_much_smaller_than_the_payload() -> None:
    raw = FIXTURE.read_bytes()
    _, value = codec.encode_pending(PendingAction(1, DEST, "o", raw, 1.0))
    assert len(value) < 0.7 * len(raw)


def test_record_round_trips_every_field_including_an_error_full_of_delimiters() -> None:
    rec = FindingRecord(
        DEST, "81703742-b81a", state=State.CLOSED_OUTSIDE, occurrence=3, incident_id="01JABC",
        reference="INC-123", permalink="https://app.incident.io/incidents/123?x=a|b", severity="Critical",
        last_ts_ns=1_734_072_188_309_296_138, attempts=4, last_error=ODD, created_at=1_750_000_000.5,
        updated_at=1_750_000_100.25,
    )
    value = codec.encode_record(rec)
    assert value.count(codec.SEP) == codec.RECORD_FIELDS - 1
    assert codec.decode_record(DEST, rec.object_id, value) == rec


def test_record_with_nothing_optional_round_trips() -> None:
    rec = FindingRecord(DEST, "o", state=State.SKIPPED)
    assert codec.decode_record(DEST, "o", codec.encode_record(rec)) == rec


def test_long_errors_are_cut_with_a_marker_and_times_to_the_millisecond() -> None:
    rec = FindingRecord(DEST, "o", last_error="|" * 500, updated_at=1.23456)
    back = codec.decode_record(DEST, "o", codec.encode_record(rec))
    assert back.last_error == "|" * (codec.ERROR_LIMIT - 3) + "..."
    assert back.updated_at == 1.235


@pytest.mark.parametrize("value", ["2|open|||1|||||0|0|", "1|open", "1|nope|||1||||0|0|0|", "1|open|||x||||0|0|0|"])
def test_unreadable_records_raise_codec_error(value: str) -> None:
    with pytest.raises(codec.CodecError):
        codec.decode_record(DEST, "o", value)


@pytest.mark.parametrize(("key", "value"), [("x1", "1|1|0|o|z|"), ("1", "1|1|0|o|q123|"), ("1", "1|1|0|o|z!!|")])
def test_unreadable_pending_entries_raise_codec_error(key: str, value: str) -> None:
    with pytest.raises(codec.CodecError):
        codec.decode_pending(DEST, key, value)


# -- durability and group commit -------------------------------------------------------------------------
async def test_accept_returns_only_after_a_patch_carrying_its_entry_succeeded(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await j.flush(DEST)
    api.started.clear()
    api.hold.clear()
    task = asyncio.create_task(j.accept([intake("a")]))
    await api.started.wait()  # the patch carrying "a" has been sent, and is held
    await asyncio.sleep(0.01)
    assert not task.done()
    assert "pending" not in api.status
    assert await j.pending(DEST) == []  # workers only see what is already in status
    assert await j.pending_count(DEST) == 0 and await j.pending_count() == 0
    api.hold.set()
    await task
    (key,) = api.status["pending"]
    assert codec.decode_pending(DEST, key, api.status["pending"][key]).object_id == "a"
    assert api.status["pendingActions"] == 1
    assert [a.object_id for a in await j.pending(DEST)] == ["a"]


async def test_concurrent_accepts_share_patches(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await asyncio.gather(*(j.accept([intake(f"o{i}")]) for i in range(100)))
    assert len(api.status["pending"]) == 100
    assert len(api.patches) < 10
    assert [a.object_id for a in await j.pending(DEST, limit=3)] == ["o0", "o1", "o2"]


async def test_accepts_arriving_during_a_patch_go_together_in_the_next(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await j.flush(DEST)  # the first patch after attach writes the counters
    api.started.clear()
    api.hold.clear()
    first = asyncio.create_task(j.accept([intake("first")]))
    await api.started.wait()
    rest = [asyncio.create_task(j.accept([intake(f"o{i}")])) for i in range(20)]
    await asyncio.sleep(0)
    api.hold.set()
    await asyncio.gather(first, *rest)
    assert [len(p["pending"]) for p in api.patches if "pending" in p] == [1, 20]


async def test_writers_released_by_a_patch_join_the_next_one_instead_of_alternating(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await j.flush(DEST)
    api.latency = 0.002

    async def sender(n: int) -> None:
        for i in range(5):
            await j.accept(list(await asyncio.gather(asyncio.sleep(0, intake(f"s{n}-{i}")))))

    async def worker() -> None:  # writes again the moment its last write is done
        for i in range(6):
            await j.save_record(record(f"w{i}"), "created", history(f"w{i}"))

    await asyncio.gather(worker(), *(sender(n) for n in range(8)))
    carried = [(len(p.get("pending", {})), len(p.get("incidents", {}))) for p in api.patches[1:]]
    assert carried == [(8, 1)] * 5 + [(0, 1)]  # not alternating: (0, 1), (8, 0), (0, 1), ...


async def test_failed_patch_fails_accept_then_the_entry_is_written_by_the_retry(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    api.fail.append(PatchFailed(500))
    with pytest.raises(JournalUnavailable, match=r"ns/dest.*HTTP 500"):
        await j.accept([intake("a")])
    await j.flush(DEST)
    assert [codec.decode_pending(DEST, k, v).object_id for k, v in api.status["pending"].items()] == ["a"]
    assert j.stats(DEST).failed_patches == 1


async def test_worker_writes_retry_until_written(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await j.accept([intake("a")])
    (action,) = await j.pending(DEST)
    api.fail += [PatchFailed(500), TimeoutError()]
    await j.complete(action, record("a"), "created", history("a"))
    assert api.attempts == 4
    assert "pending" not in api.status or api.status["pending"] == {}
    assert api.status["counters"]["created"] == 1 and api.status["openIncidents"] == 1


async def test_accept_for_a_destination_that_is_not_attached_is_unavailable(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    with pytest.raises(JournalUnavailable, match="not attached"):
        await j.accept([intake("a"), Intake("other/dest", "a", b"{}", 1.0)])
    assert await j.pending_count() == 0 and api.patches == []


# -- the Journal protocol --------------------------------------------------------------------------------
async def test_complete_removes_the_action_and_stores_record_and_counters_in_one_patch(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await j.accept([intake("a"), intake("b")])
    a, b = await j.pending(DEST)
    before = len(api.patches)
    await j.complete(a, record("a"), "created", history("a"))
    assert len(api.patches) == before + 1
    patch = api.patches[-1]
    assert patch["pending"] == {codec.seq_key(a.seq): None}
    assert set(patch["incidents"]) == {"a"}
    assert patch["counters"] == {"created": 1, "updated": 0, "resolved": 0, "skipped": 0, "failed": 0, "ignored": 0}
    assert (patch["openIncidents"], patch["pendingActions"]) == (1, 1)
    assert await j.pending(DEST) == [b] and await j.pending_count(DEST) == 1
    assert await j.record(DEST, "a") == record("a")
    assert j.is_known(DEST, "a") and j.is_known(DEST, "b") and not j.is_known(DEST, "c")


async def test_retry_later_keeps_the_action_with_its_attempts_and_error(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await j.accept([intake("a")])
    (action,) = await j.pending(DEST)
    await j.retry_later(action, "503 from incident.io")
    (again,) = await j.pending(DEST)
    assert (again.seq, again.attempts, again.last_error, again.payload) == (
        action.seq, 1, "503 from incident.io", action.payload
    )
    stored = codec.decode_pending(DEST, codec.seq_key(action.seq), api.status["pending"][codec.seq_key(action.seq)])
    assert stored == again


async def test_ignored_is_counted_in_status_too(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await j.save_record(record("a", State.CLEARED_UNKNOWN), "ignored", history("a"))
    assert (await j.counters(DEST)).ignored == 1
    await j.flush(DEST)
    assert api.status["counters"]["ignored"] == 1  # status.counters.ignored is in the CRD


# -- restart ---------------------------------------------------------------------------------------------
async def test_a_new_journal_resumes_the_same_pending_actions_in_order_and_the_same_records(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await asyncio.gather(*(j.accept([intake(f"o{i}", at=1_750_000_000.5 + i)]) for i in range(12)))
    first, *_ = await j.pending(DEST)
    await j.complete(first, record("o0", last_error=ODD), "created", history("o0"))
    await j.save_record(record("x", State.RESOLVED, incident_id="01JX", reference="INC-9"), "resolved", history("x"))
    await j.close()

    again = make_journal(json.loads(json.dumps(api.status)))
    resumed = await again.pending(DEST)
    assert [a.object_id for a in resumed] == [f"o{i}" for i in range(1, 12)]
    assert [a.seq for a in resumed] == sorted(a.seq for a in resumed)
    assert resumed[0].payload == payload("o1") and resumed[0].received_at == 1_750_000_001.5
    assert await again.records(DEST) == [record("o0", last_error=ODD),
                                         record("x", State.RESOLVED, incident_id="01JX", reference="INC-9")]
    assert (await again.counters(DEST)).as_dict() | {"ignored": 0} == {
        "created": 1, "updated": 0, "resolved": 1, "skipped": 0, "failed": 0, "ignored": 0
    }
    await again.accept([intake("new")])
    assert (await again.pending(DEST))[-1].seq == resumed[-1].seq + 1  # numbering continues


async def test_entries_this_version_cannot_read_are_left_alone_and_numbering_skips_them(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    api.status = {"pending": {"0000000007": "9|future format"}, "incidents": {"old": "9|future"}}
    j = make_journal()
    await j.accept([intake("a")])
    assert api.status["pending"]["0000000007"] == "9|future format" and api.status["incidents"] == {"old": "9|future"}
    (action,) = await j.pending(DEST)
    assert action.seq == 8


# -- pruning ---------------------------------------------------------------------------------------------
async def test_ended_records_beyond_keep_ended_are_pruned_and_open_ones_never(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal(keep_ended=2)
    for i in range(3):
        await j.save_record(record(f"open{i}", at=float(i)), "created", history("o"))
    for i, state in enumerate([State.RESOLVED, State.SKIPPED, State.FAILED, State.CLOSED_OUTSIDE]):
        await j.save_record(record(f"end{i}", state, at=100.0 + i), None, history("e"))
    await j.flush(DEST)
    assert sorted(api.status["incidents"]) == ["end2", "end3", "open0", "open1", "open2"]
    assert {k for p in api.patches for k, v in p.get("incidents", {}).items() if v is None} == {"end0", "end1"}
    assert api.status["openIncidents"] == 3
    assert not j.is_known(DEST, "end0")


async def test_a_record_with_a_pending_action_is_not_pruned(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal(keep_ended=0)
    await j.accept([intake("busy")])
    await j.save_record(record("busy", State.RESOLVED), None, history("busy"))
    await j.save_record(record("idle", State.RESOLVED), None, history("idle"))
    assert sorted(api.status["incidents"]) == ["busy"]


async def test_cleared_unknown_records_are_kept_until_their_ttl(
    api: FakeStatusApi, clock: Clock, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal(keep_ended=0, cleared_unknown_ttl=60.0)
    await j.save_record(record("c", State.CLEARED_UNKNOWN, at=clock.now), "ignored", history("c"))
    await j.save_record(record("r", State.RESOLVED, at=clock.now), None, history("r"))
    assert sorted(api.status["incidents"]) == ["c"]
    clock.now += 61
    await j.save_record(record("r2", State.RESOLVED, at=clock.now), None, history("r2"))
    assert "incidents" not in api.status or api.status["incidents"] == {}


# -- the budget ------------------------------------------------------------------------------------------
async def test_over_budget_accept_is_refused_naming_the_budget_and_nothing_accepted_is_lost(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal(budget_bytes=8_000)
    accepted: list[str] = []
    with pytest.raises(JournalUnavailable, match="budget of 8000 bytes"):
        for i in range(100):
            await j.accept([intake(f"o{i}")])
            accepted.append(f"o{i}")
    assert 3 < len(accepted) < 100
    assert [a.object_id for a in await j.pending(DEST)] == accepted
    stored = [codec.decode_pending(DEST, k, v).object_id for k, v in api.status["pending"].items()]
    assert stored == accepted
    assert len(json.dumps(api.status)) <= 8_000
    (first, *_) = await j.pending(DEST)  # applying an action makes room again
    await j.complete(first, record(first.object_id, State.SKIPPED), "skipped", history(first.object_id))
    await j.accept([intake("more")])


async def test_budget_pressure_prunes_ended_records_below_keep_ended_before_refusing(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal(budget_bytes=4_000, keep_ended=100)
    for i in range(20):
        await j.save_record(record(f"end{i:02d}", State.RESOLVED, at=float(i), permalink="x" * 60), None, history("e"))
    await j.save_record(record("open"), "created", history("open"))
    await j.accept([intake("a"), intake("b")])
    kept = sorted(api.status["incidents"])
    assert "open" in kept and "end19" in kept and "end00" not in kept  # oldest ended went first
    assert len(json.dumps(api.status)) <= 4_000


async def test_a_batch_that_cannot_fit_changes_nothing(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal(budget_bytes=3_000)
    await j.save_record(record("end", State.RESOLVED), None, history("end"))
    patches = len(api.patches)
    with pytest.raises(JournalUnavailable, match="budget"):
        await j.accept([intake(f"o{i}") for i in range(10)])
    assert len(api.patches) == patches and await j.record(DEST, "end") is not None


# -- other status fields, detach, close ------------------------------------------------------------------
async def test_set_fields_sends_only_changed_fields_without_waiting(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    api.status = {"observedGeneration": 3, "message": "old"}
    j = make_journal()
    conditions = [{"type": "Ready", "status": "True", "reason": "Ready"}]
    j.set_fields(DEST, {"observedGeneration": 3, "message": "syncing", "conditions": conditions})
    await j.flush(DEST)
    assert api.patches[-1] == {
        "message": "syncing", "conditions": conditions,
        "counters": {"created": 0, "updated": 0, "resolved": 0, "skipped": 0, "failed": 0, "ignored": 0},
        "openIncidents": 0, "pendingActions": 0,
    }
    j.set_fields(DEST, {"message": "syncing"})  # unchanged: nothing to send
    await j.flush(DEST)
    await j.accept([intake("a")])
    assert set(api.patches[-1]) == {"pending", "pendingActions"}
    conditions[0]["status"] = "False"  # the caller's own list, edited in place and set again: a change
    j.set_fields(DEST, {"conditions": conditions})
    await j.flush(DEST)
    assert api.status["conditions"][0]["status"] == "False"
    with pytest.raises(ValueError, match="journal"):
        j.set_fields(DEST, {"pending": {}})


async def test_a_field_the_api_server_rejects_does_not_block_the_journal(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await j.flush(DEST)
    api.fail.append(PatchFailed(422, "Unprocessable Entity"))
    j.set_fields(DEST, {"source": "Nonsense"})
    await j.flush(DEST)
    await j.accept([intake("a")])
    assert "source" not in api.status and len(api.status["pending"]) == 1


async def test_detach_releases_waiting_writers_with_unavailable(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    api.hold.clear()
    task = asyncio.create_task(j.save_record(record("a"), "created", history("a")))
    await api.started.wait()
    await j.detach(DEST)
    with pytest.raises(JournalUnavailable, match="removed"):
        await task
    assert not j.is_attached(DEST) and await j.pending(DEST) == [] and await j.records() == []
    with pytest.raises(JournalUnavailable):
        await j.accept([intake("b")])


async def test_close_writes_what_is_still_unwritten(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    j.set_fields(DEST, {"message": "bye"})
    await j.close()
    assert api.status["message"] == "bye" and not j.is_attached(DEST)


async def test_attach_twice_keeps_the_state_in_memory(
    api: FakeStatusApi, make_journal: Callable[..., KubeStatusJournal]
) -> None:
    j = make_journal()
    await j.accept([intake("a")])
    j.attach(DEST, "ns", "dest", {})
    assert j.is_known(DEST, "a")


def test_fake_merge_patch_follows_rfc_7386() -> None:
    patched = merge_patch({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"b": None, "e": 3}, "d": None})
    assert patched == {"a": {"c": 2, "e": 3}}
