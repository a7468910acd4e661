"""Hostile review of the Finding store, the migration and the leader election: each test here failed on the
code it was written against (branch ``review``)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from causely_docs import detected
from finding_fakes import DEST, FakeFindingApi, finding, history, intake
from kube_fakes import PatchFailed

from causely_incidentio.kube import codec
from causely_incidentio.kube.findingstore import FindingStore
from causely_incidentio.kube.migrate import migrate
from causely_incidentio.payload import parse_notification
from causely_incidentio.sync.records import FindingRecord, State


def obj(api: FakeFindingApi, oid: str, dest: str = DEST) -> dict:
    return finding(api, oid, dest)


async def test_a_deposed_leaders_retry_later_never_erases_the_new_leaders_incident() -> None:
    """Partition: the old leader lost the Lease mid-create; the new one created INC-1 and recorded it. The old
    leader's create then times out and it records the retry: its stale record (no incident) must not land."""
    api = FakeFindingApi()
    old, new = FindingStore(api), FindingStore(api)
    await old.accept([intake(detected("A"))])
    new.observe(None, obj(api, "A"))
    [stale] = await old.pending(DEST)  # the deposed leader took generation 1 and is calling incident.io
    [action] = await new.pending(DEST)
    opened = FindingRecord(DEST, "A", state=State.OPEN, incident_id="01", reference="INC-1")
    await new.complete(action, opened, "created", history())
    await old.retry_later(stale, "POST /v2/incidents: no response: timed out")
    status = obj(api, "A")["status"]
    assert status.get("incidentId") == "01", status  # else a later ProblemCleared finds no incident to resolve
    assert status["state"] == "open"


async def test_a_deposed_leader_finishing_the_same_generation_late_does_not_overwrite() -> None:
    """docs/findings.md: 'a status that already observed this generation or a later one wins'."""
    api = FakeFindingApi()
    old, new = FindingStore(api), FindingStore(api)
    await old.accept([intake(detected("A"))])
    new.observe(None, obj(api, "A"))
    [stale] = await old.pending(DEST)
    [action] = await new.pending(DEST)
    opened = FindingRecord(DEST, "A", state=State.OPEN, incident_id="01", reference="INC-1")
    await new.complete(action, opened, "created", history())
    # the new leader's periodic re-check finds that a human closed INC-1
    await new.save_record(opened.copy(state=State.CLOSED_OUTSIDE), None, history())
    await old.complete(stale, opened, "created", history())  # the deposed leader finishes generation 1
    assert obj(api, "A")["status"]["state"] == "closed-outside"


async def test_migration_killed_between_create_and_status_write_still_carries_the_record_over() -> None:
    """kill -9 mid-migration: the Finding was created, its status (the open incident) not yet written. On the
    next start the Finding is listed, so is_known() skips the record and the incident is never recorded."""
    api = FakeFindingApi()
    rec = FindingRecord(DEST, "open-one", state=State.OPEN, occurrence=1, incident_id="01", reference="INC-9",
                        severity="High", last_ts_ns=1_000)
    body = {"metadata": {"namespace": "ns", "name": "dest", "uid": "u"},
            "status": {"incidents": {"open-one": codec.encode_record(rec)}}}
    first = FindingStore(api)
    api.fail["status"] = [PatchFailed(503, "Service Unavailable")]  # the process dies here
    with contextlib.suppress(PatchFailed):
        await migrate(api, api, first, DEST, body)
    restarted = FindingStore(api)  # a new process lists the Findings, then migrates again
    for o in list(api.objects.values()):
        restarted.observe(None, o)
    await migrate(api, api, restarted, DEST, body)
    carried = obj(api, "open-one")
    assert (carried.get("status") or {}).get("incidentId") == "01", carried.get("status")
    record = await restarted.record(DEST, "open-one")
    assert record is not None and record.incident_id == "01"


async def test_a_hung_lease_renewal_stops_leading_within_the_renew_deadline(monkeypatch) -> None:
    """A network partition that blackholes the API server: kubernetes_asyncio sets no request timeout and its
    renew loop only checks the deadline between calls, so a hung renewal keeps this replica 'leading' forever
    while another replica takes the expired Lease: two reconcilers."""
    from kubernetes_asyncio.client.exceptions import ApiException

    from causely_incidentio.kube import leader as L

    class HangingLock:
        gets = 0  # per process, not per lock: the partition outlasts any new election run

        def __init__(self, name: str, namespace: str, identity: str, api_client: object) -> None:
            self.name, self.namespace, self.identity = name, namespace, identity

        async def get(self, name: str, namespace: str):  # type: ignore[no-untyped-def]
            HangingLock.gets += 1
            if HangingLock.gets == 1:
                exc = ApiException(status=404, reason="Not Found")
                exc.body = json.dumps({"code": 404})
                return False, exc
            await asyncio.Event().wait()  # the partition: the request never returns

        async def create(self, name: str, namespace: str, election_record: object) -> bool:
            return True

        async def update(self, name: str, namespace: str, record: object) -> bool:
            return True

    monkeypatch.setattr(L, "LeaseLock", HangingLock)
    stopped = asyncio.Event()

    async def on_started() -> None:
        pass

    async def on_stopped() -> None:
        stopped.set()

    elector = L.LeaderElector(None, "ns", identity="a", on_started=on_started, on_stopped=on_stopped,  # type: ignore[arg-type]
                              lease_duration=3.0, renew_deadline=2.5, retry_period=1.0)
    elector.start()
    try:
        for _ in range(50):
            if elector.leading:
                break
            await asyncio.sleep(0.02)
        assert elector.leading
        await asyncio.sleep(4.5)  # past retry_period + renew_deadline, and past lease_duration: another replica leads
        assert not elector.leading and stopped.is_set()
    finally:
        await elector.stop(release=False)


async def test_a_clear_arriving_while_the_secret_is_being_re_created_reaches_the_findings() -> None:
    """Token rotation by delete + create: between the mirror's DELETED and the new one's ADDED the destination
    is removed from the pipeline, so a ProblemCleared for its open incident is routed nowhere and answered 202.
    The Finding outlives the destination (docs/findings.md), so the clear must be written to it; today it is
    dropped and the incident stays open for ever (issue 7: 'nothing lost when a Secret ... is re-created')."""
    from causely_docs import payload
    from pydantic import SecretStr

    from causely_incidentio.destinations import DestinationConfig, DestinationSource
    from causely_incidentio.settings import Settings
    from causely_incidentio.sync.pipeline import Pipeline

    api = FakeFindingApi()
    store = FindingStore(api)
    pipeline = Pipeline(store, Settings(), active=False)
    pipeline.upsert(DestinationConfig(id=DEST, name="dest", source=DestinationSource.SECRET,
                                      token=SecretStr("k")))
    raw = json.dumps(detected("A")).encode()
    await pipeline.accept(parse_notification(raw), raw)
    await pipeline.retire(DEST, "its object was deleted")  # the Secret was deleted; its replacement is coming
    clear = json.dumps(payload("cleared.json", objectId="A", timestamp="2026-11-26T10:05:00Z")).encode()
    result = await pipeline.accept(parse_notification(clear), clear)
    assert DEST in result.destinations
    assert obj(api, "A")["spec"]["notification"]["type"] == "ProblemCleared"


async def test_one_slow_lease_call_is_a_failed_attempt_not_the_end_of_leadership(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Under load a single Lease call may outlast its deadline: the library must retry it within the renew
    deadline (leadership flapped under a 50-destination load when the timeout ended the election run)."""
    import datetime as dt

    from kubernetes_asyncio.client.exceptions import ApiException
    from kubernetes_asyncio.leaderelection.leaderelectionrecord import LeaderElectionRecord

    from causely_incidentio.kube import leader as L

    class SlowOnceLock:
        gets = 0

        def __init__(self, name: str, namespace: str, identity: str, api_client: object) -> None:
            self.name, self.namespace, self.identity = name, namespace, identity

        async def get(self, name: str, namespace: str):  # type: ignore[no-untyped-def]
            SlowOnceLock.gets += 1
            if SlowOnceLock.gets == 1:
                exc = ApiException(status=404, reason="Not Found")
                exc.body = json.dumps({"code": 404})
                return False, exc
            if SlowOnceLock.gets == 2:
                await asyncio.sleep(30)  # one slow answer
            now = str(dt.datetime.now())
            return True, LeaderElectionRecord("a", "6", now, now)

        async def create(self, name: str, namespace: str, election_record: object) -> bool:
            return True

        async def update(self, name: str, namespace: str, record: object) -> bool:
            return True

    monkeypatch.setattr(L, "LeaseLock", SlowOnceLock)
    stops = []

    async def on_started() -> None:
        pass

    async def on_stopped() -> None:
        stops.append(1)

    elector = L.LeaderElector(None, "ns", identity="a", on_started=on_started, on_stopped=on_stopped,  # type: ignore[arg-type]
                              lease_duration=6.0, renew_deadline=4.0, retry_period=1.0)
    elector.start()
    try:
        await asyncio.sleep(5.0)  # past the slow call (2 s deadline) and a retry
        assert SlowOnceLock.gets >= 3 and elector.leading and stops == []
    finally:
        await elector.stop(release=False)
