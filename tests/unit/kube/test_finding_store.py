"""The Finding store against an API with the server's concurrency rules: two replicas writing at once,
conflicts, transient and permanent failures, the leader's guarded status writes, migration."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from causely_docs import detected, payload
from finding_fakes import DEST, FakeFindingApi, finding, history, intake
from kube_fakes import PatchFailed

from causely_incidentio.kube import codec
from causely_incidentio.kube import findings as F
from causely_incidentio.kube.findingstore import FindingStore
from causely_incidentio.kube.migrate import has_legacy_status, migrate
from causely_incidentio.payload import parse_notification
from causely_incidentio.sync.journal import DestinationRefused, JournalUnavailable
from causely_incidentio.sync.records import FindingRecord, PendingAction, State

OTHER = "secret/other/dest"


def obj(api: FakeFindingApi, oid: str, dest: str = DEST) -> dict:
    return finding(api, oid, dest)


async def test_a_notification_becomes_a_finding_with_its_spec_and_labels() -> None:
    api = FakeFindingApi()
    store = FindingStore(api)
    await store.accept([intake(detected("A", "Critical"))])
    o = obj(api, "A")
    assert o["spec"]["destination"] == DEST and o["spec"]["objectId"] == "A" and o["spec"]["occurrence"] == 1
    assert o["spec"]["notification"]["severity"] == "Critical"
    assert o["metadata"]["labels"][F.LABEL_STATE] == "pending"
    assert store.is_known(DEST, "A") and await store.pending_count(DEST) == 1


async def test_two_replicas_writing_the_same_finding_at_once_keep_the_newest() -> None:
    api = FakeFindingApi()
    a, b = FindingStore(api), FindingStore(api)
    times = [f"2026-11-26T10:00:{s:02d}Z" for s in range(40)]
    docs = [detected("A", ts=t, type="ProblemUpdated") for t in times]
    random.Random(7).shuffle(docs)
    await asyncio.gather(*(
        (a if i % 2 else b).accept([intake(d)]) for i, d in enumerate(docs)
    ))
    o = obj(api, "A")
    newest = parse_notification(json.dumps(detected("A", ts=times[-1])).encode()).timestamp_ns
    assert o["spec"]["notification"]["timestamp"] == str(newest)
    assert a.conflicts + b.conflicts > 0  # they did collide, and resolved it by re-reading


async def test_a_stale_or_duplicate_notification_writes_nothing() -> None:
    api = FakeFindingApi()
    store = FindingStore(api)
    await store.accept([intake(detected("A", ts="2026-11-26T10:00:05Z"))])
    writes = store.writes
    await store.accept([intake(detected("A", ts="2026-11-26T10:00:05Z"))])
    await store.accept([intake(detected("A", ts="2026-11-26T10:00:01Z", type="ProblemUpdated"))])
    assert store.writes == writes and obj(api, "A")["metadata"]["generation"] == 1


async def test_transient_failure_for_one_destination_fails_the_whole_notification() -> None:
    api = FakeFindingApi()
    store = FindingStore(api)
    api.fail["create"] = [PatchFailed(503, "Service Unavailable")]
    with pytest.raises(JournalUnavailable) as caught:
        await store.accept([intake(detected("A"), DEST), intake(detected("A"), OTHER)])
    assert not isinstance(caught.value, DestinationRefused) and not store.healthy
    # the retry creates nothing twice: the one already written sees a duplicate
    await store.accept([intake(detected("A"), DEST), intake(detected("A"), OTHER)])
    assert len(api.objects) == 2 and store.healthy
    assert all(o["metadata"]["generation"] == 1 for o in api.objects.values())


async def test_a_permanent_refusal_is_per_destination() -> None:
    api = FakeFindingApi()
    api.namespaces.discard("other")
    store = FindingStore(api)
    with pytest.raises(DestinationRefused) as caught:
        await store.accept([intake(detected("A"), DEST), intake(detected("A"), OTHER)])
    assert set(caught.value.refused) == {OTHER} and "404" in caught.value.refused[OTHER]
    assert store.is_known(DEST, "A")


async def test_superseded_notifications_coalesce_into_one_action_at_the_latest_spec() -> None:
    api = FakeFindingApi()
    store = FindingStore(api)
    for s in range(5):
        await store.accept([intake(detected("A", ts=f"2026-11-26T10:00:0{s}Z", type="ProblemUpdated"))])
    actions = await store.pending(DEST)
    assert len(actions) == 1
    assert parse_notification(actions[0].payload).timestamp.second == 4  # type: ignore[union-attr]


async def test_complete_records_the_generation_and_the_finding_has_no_more_work() -> None:
    api = FakeFindingApi()
    store = FindingStore(api)
    await store.accept([intake(detected("A"))])
    [action] = await store.pending(DEST)
    rec = FindingRecord(DEST, "A", state=State.OPEN, incident_id="01", reference="INC-1")
    await store.complete(action, rec, "created", history())
    o = obj(api, "A")
    assert o["status"]["observedGeneration"] == 1 and o["status"]["state"] == "open"
    assert o["metadata"]["labels"][F.LABEL_STATE] == "open"
    assert await store.pending(DEST) == [] and (await store.counters(DEST)).created == 1


async def test_a_result_for_an_old_generation_is_written_and_the_new_one_stays_work() -> None:
    api = FakeFindingApi()
    leader, receiver = FindingStore(api), FindingStore(api)
    await receiver.accept([intake(detected("A", ts="2026-11-26T10:00:00Z"))])
    leader.observe(None, obj(api, "A"))
    [action] = await leader.pending(DEST)
    # a receiver writes a newer notification while the leader is calling incident.io
    await receiver.accept([intake(payload("cleared.json", objectId="A", timestamp="2026-11-26T10:05:00Z"))])
    rec = FindingRecord(DEST, "A", state=State.OPEN, incident_id="01", reference="INC-1")
    await leader.complete(action, rec, "created", history())
    o = obj(api, "A")
    assert o["status"]["incidentId"] == "01" and o["status"]["observedGeneration"] == 1
    assert o["metadata"]["generation"] == 2 and o["spec"]["notification"]["type"] == "ProblemCleared"
    [again] = await leader.pending(DEST)
    assert parse_notification(again.payload).type.value == "ProblemCleared"


async def test_a_deposed_leader_never_overwrites_a_newer_result() -> None:
    api = FakeFindingApi()
    old, new = FindingStore(api), FindingStore(api)
    await old.accept([intake(detected("A", ts="2026-11-26T10:00:00Z"))])
    new.observe(None, obj(api, "A"))
    [stale_action] = await old.pending(DEST)
    await new.accept([intake(payload("cleared.json", objectId="A", timestamp="2026-11-26T10:05:00Z"))])
    [action] = await new.pending(DEST)
    resolved = FindingRecord(DEST, "A", state=State.RESOLVED, incident_id="01", reference="INC-1")
    await new.complete(action, resolved, "resolved", history())
    # the deposed leader finally finishes its older action
    opened = FindingRecord(DEST, "A", state=State.OPEN, incident_id="01", reference="INC-1")
    await old.complete(stale_action, opened, "created", history())
    o = obj(api, "A")
    assert o["status"]["state"] == "resolved" and o["status"]["observedGeneration"] == 2
    assert (await old.counters(DEST)).created == 0


async def test_retry_later_backs_off_that_finding_only() -> None:
    api = FakeFindingApi()
    now = [1000.0]
    store = FindingStore(api, clock=lambda: now[0])
    await store.accept([intake(detected("A")), intake(detected("B"))])
    actions = {a.object_id: a for a in await store.pending(DEST)}
    await store.retry_later(actions["A"], "HTTP 503")
    assert [a.object_id for a in await store.pending(DEST)] == ["B"]
    assert await store.pending_count(DEST) == 2 - 1  # the one backing off is not due (the worker sleeps)
    assert obj(api, "A")["status"]["lastError"] == "HTTP 503"
    now[0] += 3
    assert {a.object_id for a in await store.pending(DEST)} == {"A", "B"}


async def test_collect_deletes_ended_and_orphaned_findings_only() -> None:
    api = FakeFindingApi()
    now = [10_000_000.0]
    store = FindingStore(api, clock=lambda: now[0])
    await store.accept([intake(detected(o)) for o in ("open", "ended", "work")] + [intake(detected("x"), OTHER)])
    actions = {a.object_id: a for a in await store.pending(DEST)}
    await store.complete(actions["open"], FindingRecord(DEST, "open", state=State.OPEN, incident_id="1"),
                         None, history())
    await store.complete(actions["ended"], FindingRecord(DEST, "ended", state=State.RESOLVED, incident_id="2"),
                         None, history())
    now[0] += 100
    # OTHER has been gone 50 s of a 60 s grace: its Finding stays for now
    assert await store.collect(live_destinations={DEST}, gone_since={OTHER: now[0] - 50}, grace=60,
                               retention=200) == 0
    deleted = await store.collect(live_destinations={DEST}, gone_since={OTHER: now[0] - 70}, grace=60,
                                  retention=90)
    assert deleted == 2
    assert {o["spec"]["objectId"] for o in api.objects.values()} == {"open", "work"}


async def test_migration_carries_records_and_pending_over_once() -> None:
    api = FakeFindingApi()
    store = FindingStore(api)
    rec = FindingRecord(DEST, "open-one", state=State.OPEN, occurrence=2, incident_id="01", reference="INC-9",
                        severity="High", last_ts_ns=1_000)
    raw = json.dumps(detected("new-one")).encode()
    seq, value = codec.encode_pending(PendingAction(1, DEST, "new-one", raw, 5.0), codec.encode_payload(raw))
    body = {"metadata": {"namespace": "ns", "name": "dest", "uid": "u"},
            "status": {"incidents": {"open-one": codec.encode_record(rec)}, "pending": {seq: value}}}
    assert has_legacy_status(body)
    assert await migrate(api, api, store, DEST, body) == (1, 1)
    assert await migrate(api, api, store, DEST, body) == (0, 1)  # again (a second replica): nothing new
    assert len(api.objects) == 2
    carried = obj(api, "open-one")
    assert carried["status"]["incidentId"] == "01" and carried["status"]["observedGeneration"] == 1
    assert carried["spec"]["occurrence"] == 2
    assert [a.object_id for a in await store.pending(DEST)] == ["new-one"]
    assert obj(api, "new-one")["metadata"]["generation"] == 1


async def test_per_destination_views_follow_creates_and_deletes() -> None:
    """The leader's status pass and workers read one destination's Findings, not every Finding each time
    (50 destinations × 10,000 Findings cost 1.1 s of CPU per pass when every call walked them all)."""
    api = FakeFindingApi()
    store = FindingStore(api)
    await store.accept([intake(detected(o)) for o in ("a", "b")] + [intake(detected("c"), OTHER)])
    assert {e.object_id for e in store.entries(DEST)} == {"a", "b"}
    assert store.summary(OTHER)["findings"] == 1 and store.destination_ids() == {DEST, OTHER}
    gone = obj(api, "c", OTHER)
    store.observe("DELETED", gone)
    assert store.entries(OTHER) == [] and store.destination_ids() == {DEST}
    assert await store.pending_count(DEST) == 2 and await store.pending_count() == 2


async def test_actions_handed_out_and_never_finished_do_not_pile_up() -> None:
    """Issue 8.16: a drain that stops early (paused, reconfigured) leaves nothing behind in memory."""
    store = FindingStore(FakeFindingApi())
    await store.accept([intake(detected("A")), intake(detected("B"))])
    for _ in range(50):
        assert len(await store.pending(DEST)) == 2
    assert len(store._work) == 2
    for action in await store.pending(DEST):
        await store.retry_later(action, "HTTP 503")
    assert not store._work and not store._in_flight
