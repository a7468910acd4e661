"""Issue 8 (trust under faults): each test fails on the code before its fix."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pipeline_harness import API_TOKEN, Harness, cleared, detected, secret, updated

from causely_incidentio.problems import InvalidInput, Problem
from causely_incidentio.standalone import destination_id_of, load_config
from causely_incidentio.sync.records import FindingRecord, State

pytestmark = pytest.mark.integration

A = "a1a1a1a1-0000-4000-8000-000000000001"
B = "b2b2b2b2-0000-4000-8000-000000000002"
DEST = "secret/causely/primary"


def of(harness: Harness, object_id: str) -> list[dict[str, Any]]:
    return [i for i in harness.incidents() if object_id in i["summary"]]


async def until(check: Any, what: str, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_an_action_that_keeps_failing_unexpectedly_ends_failed_and_the_clear_still_resolves(
    harness: Harness,
) -> None:
    """8.1: the create works but its outcome can never be stored (like a value SQLite cannot hold)."""
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    original = harness.journal.complete

    async def poisoned(action: Any, record: FindingRecord, counter: Any, history: Any) -> None:
        if record.object_id == A and record.state is State.OPEN:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        await original(action, record, counter, history)

    harness.journal.complete = poisoned  # type: ignore[method-assign]
    await harness.post(detected(A))
    await harness.post(cleared(A, "2026-11-26T10:30:00Z"))
    await harness.idle(timeout=20)
    incidents = of(harness, A)
    assert len(incidents) == 1 and incidents[0]["incident_status"]["category"] == "closed"  # the clear acted
    assert (await harness.record(DEST, A)).state is State.RESOLVED
    assert any(reason == "ActionAbandoned" for _, reason, _ in harness.events)
    metrics = harness.pipeline.metrics.render().decode()
    assert f'causely_incidentio_actions_abandoned_total{{destination="{DEST}",reason="unexpected"}} 1.0' in metrics
    assert (await harness.journal.counters(DEST)).failed == 1


async def test_stuck_findings_never_delay_another_finding_and_show_in_the_gauges(harness: Harness) -> None:
    """8.2: with a batch of 5 and 5 findings failing over and over, a sixth is still delivered at once."""
    harness.worker_options.update(batch_size=5, max_unexpected_attempts=10**6, max_retry_delay=5.0)
    stuck = [f"5ee5ee5e-0000-4000-8000-00000000000{i}" for i in range(5)]
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    original = harness.journal.complete

    async def failing(action: Any, record: FindingRecord, counter: Any, history: Any) -> None:
        if record.object_id in stuck:
            raise RuntimeError("cannot record this one")
        await original(action, record, counter, history)

    harness.journal.complete = failing  # type: ignore[method-assign]
    for oid in stuck:
        await harness.post(detected(oid))
    await asyncio.sleep(0.3)
    await harness.post(detected(B))

    async def b_created() -> bool:
        return len(of(harness, B)) == 1

    await until(b_created, "B's incident", timeout=5)
    await asyncio.sleep(0.3)
    metrics = harness.pipeline.metrics.render().decode()
    assert f'causely_incidentio_pending_actions{{destination="{DEST}"}} 5.0' in metrics
    age = next(line for line in metrics.splitlines()
               if line.startswith(f'causely_incidentio_oldest_pending_action_age_seconds{{destination="{DEST}"}}'))
    assert float(age.split()[-1]) > 0.3
    ready = (await harness.http.get(harness.url.replace("/notifications", "/readyz"))).json()
    assert ready["ready"] is True and ready["backlog"][DEST]["pending"] == 5
    assert ready["backlog"][DEST]["oldestSeconds"] > 0.3


async def test_a_tracked_findings_clear_during_a_broken_config_is_kept_and_delivered(harness: Harness) -> None:
    """8.4, standalone: an invalid destination is keyed by its own id (not "Secret ns/name")."""
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    await harness.post(detected(A))
    await harness.idle()
    typo = InvalidInput("Secret causely/primary", [Problem("notif_config_severity_map", "is not JSON")])
    dest_id = destination_id_of(typo.subject)
    assert dest_id == DEST
    harness.pipeline.set_destinations([], [(dest_id, typo)])
    r = await harness.post(cleared(A, "2026-11-26T10:30:00Z"))
    assert r.status_code == 202 and r.json()["destinations"] == [DEST]
    new = await harness.post(detected(B))
    assert new.status_code == 202 and new.json()["destinations"] == [DEST]  # kept, not dropped
    ready = await harness.http.get(harness.url.replace("/notifications", "/readyz"))
    assert ready.status_code == 503 and "no valid destination" in ready.json()["message"]
    harness.pipeline.set_destinations([harness.dest("primary")])
    await harness.ready(DEST)
    await harness.idle()
    assert of(harness, A)[0]["incident_status"]["category"] == "closed"
    assert len(of(harness, B)) == 1
    assert (await harness.http.get(harness.url.replace("/notifications", "/readyz"))).status_code == 200


async def test_an_occurrence_is_never_reused_after_its_record_is_pruned(harness: Harness) -> None:
    """8.6: the high-water mark outlives the pruned record, so a re-detection gets a fresh key."""
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    for n, (d, c) in enumerate((("10:00", "10:10"), ("11:00", "11:10"))):
        await harness.post(detected(A, ts=f"2026-11-26T{d}:00Z"))
        await harness.post(cleared(A, f"2026-11-26T{c}:00Z"))
        await harness.idle()
        assert len(of(harness, A)) == n + 1
    await harness.journal._run(lambda: harness.journal.conn.execute("DELETE FROM findings"))  # pruned
    await harness.post(detected(A, ts="2026-11-26T12:00:00Z"))
    await harness.idle()
    incidents = of(harness, A)
    assert len(incidents) == 3 and incidents[-1]["incident_status"]["category"] == "live"
    record = await harness.record(DEST, A)
    assert record.state is State.OPEN and record.occurrence == 3


async def test_the_operators_own_resolve_is_not_taken_for_a_human_after_a_lost_journal_write(
    harness: Harness,
) -> None:
    """8.7: the resolve reached incident.io, recording it failed; the retry must not say "closed outside"."""
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    await harness.post(detected(A))
    await harness.idle()
    original = harness.journal.complete
    lost = False

    async def lose_once(action: Any, record: FindingRecord, counter: Any, history: Any) -> None:
        nonlocal lost
        if record.state is State.RESOLVED and not lost:
            lost = True
            raise RuntimeError("crash between the resolve call and the journal write")
        await original(action, record, counter, history)

    harness.journal.complete = lose_once  # type: ignore[method-assign]
    await harness.post(cleared(A, "2026-11-26T10:30:00Z"))
    await harness.idle()
    assert lost
    assert (await harness.record(DEST, A)).state is State.RESOLVED
    assert (await harness.journal.counters(DEST)).resolved == 1
    assert not any(reason == "IncidentClosedOutside" for _, reason, _ in harness.events)


async def test_a_resolve_whose_answers_were_lost_is_the_operators_not_a_humans(harness: Harness) -> None:
    """Fault seed inproc 270: every answer to the resolve is lost after incident.io carried it out, so the worker
    retries later and finds the incident resolved before editing; the write-ahead resolve mark says it is ours.
    (Across leaders, where the mark may be missing, fault seed kube 29 covers the resolve that looks first.)"""
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    await harness.post(detected(A))
    await harness.idle()
    harness.sim.fail_next(30, "reset", method="POST", path_prefix="/v2/incidents/", after_processing=True)
    await harness.post(cleared(A, "2026-11-26T10:30:00Z"))
    await harness.idle()
    assert of(harness, A)[0]["incident_status"]["category"] == "closed"
    assert (await harness.record(DEST, A)).state is State.RESOLVED
    assert (await harness.journal.counters(DEST)).resolved == 1
    assert not any(reason == "IncidentClosedOutside" for _, reason, _ in harness.events)


async def test_a_detection_stamped_like_the_clear_before_it_opens_nothing(harness: Harness) -> None:
    """8.8: equal timestamps order Detected < Updated < Cleared, whatever order they arrive in (as Findings)."""
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    await harness.post(detected(A, ts="2026-11-26T10:00:00Z"))
    await harness.post(cleared(A, "2026-11-26T10:30:00Z"))
    await harness.post(detected(A, ts="2026-11-26T10:30:00Z"))
    await harness.idle()
    assert len(of(harness, A)) == 1
    assert (await harness.record(DEST, A)).state is State.RESOLVED


async def test_a_resend_without_a_timestamp_is_a_duplicate(harness: Harness) -> None:
    """8.8: no timestamp = the newest, unless it is the very body last applied (as Findings)."""
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    await harness.post(detected(A))
    await harness.idle()
    body = updated(A, "Critical", "2026-11-26T10:05:00Z")
    del body["timestamp"]
    await harness.post(body)
    await harness.idle()
    await harness.post(body)
    await harness.idle()
    edits = [r for r in harness.sim.requests if r.method == "POST" and r.path.endswith("/actions/edit")]
    assert len(edits) == 1
    assert (await harness.journal.counters(DEST)).ignored == 1


async def test_notify_channel_applies_to_the_resolution_only(harness: Harness) -> None:
    """8.14: Causely documents notify_channel as notifying the channel on resolution."""
    await harness.start([harness.dest("primary", notif_config_notify_channel="true")])
    await harness.ready(DEST)
    await harness.post(detected(A))
    await harness.post(updated(A, "Critical", "2026-11-26T10:05:00Z"))
    await harness.post(cleared(A, "2026-11-26T10:30:00Z"))
    await harness.idle()
    edits = [r.body for r in harness.sim.requests if r.method == "POST" and r.path.endswith("/actions/edit")]
    assert [e["notify_incident_channel"] for e in edits] == [False, True], json.dumps(edits)[:500]
    assert "incident_status_id" in edits[1]["incident"]


async def test_an_object_id_longer_than_256_characters_is_refused_naming_the_field(harness: Harness) -> None:
    """8.16: objectId keys the journal, Findings and idempotency keys: its size is capped at intake."""
    await harness.start([harness.dest("primary")])
    r = await harness.post(detected("x" * 257))
    assert r.status_code == 422
    assert [p["field"] for p in r.json()["problems"]] == ["objectId"]
    assert "at most 256" in r.json()["problems"][0]["message"]
    assert (await harness.post(detected("x" * 256))).status_code == 202


async def test_a_create_that_only_replays_ended_incidents_fails_loudly(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8.6: with the occurrence count lost, never record an ended incident as the finding's open one."""
    import causely_incidentio.sync.worker as worker_module

    monkeypatch.setattr(worker_module, "MAX_REPLAYED_ENDED", 2)
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    for d, c in (("10:00", "10:10"), ("11:00", "11:10")):
        await harness.post(detected(A, ts=f"2026-11-26T{d}:00Z"))
        await harness.post(cleared(A, f"2026-11-26T{c}:00Z"))
        await harness.idle()

    def forget() -> None:  # the record and its high-water mark both lost
        harness.journal.conn.execute("DELETE FROM findings")
        harness.journal.conn.execute("DELETE FROM occurrences")

    await harness.journal._run(forget)
    await harness.post(detected(A, ts="2099-01-01T00:00:00Z"))
    await harness.idle()
    record = await harness.record(DEST, A)
    assert record.state is State.FAILED and "already ended" in (record.last_error or "")
    assert len(of(harness, A)) == 2
    assert any(reason == "DeliveryFailed" and "already ended" in message for _, reason, message in harness.events)


async def test_a_new_finding_no_destination_can_take_while_one_is_invalid_since_start_gets_503(
    harness: Harness,
) -> None:
    """8.4: a destination invalid since start-up has no filters to go by; a finding nothing else takes is
    answered 503 (Causely retries), never 202 to no destination, and is delivered once the config is fixed."""
    typo = InvalidInput("Secret causely/primary", [Problem("notif_config_min_severity", "is not a severity")])
    await harness.start([])
    harness.pipeline.set_destinations([], [(destination_id_of(typo.subject), typo)])
    refused = await harness.post(detected(A))
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    harness.pipeline.set_destinations([harness.dest("primary")])
    await harness.ready(DEST)
    again = await harness.post(detected(A))
    assert again.status_code == 202 and again.json()["destinations"] == [DEST]
    await harness.idle()
    assert len(of(harness, A)) == 1


async def test_a_start_with_an_unreadable_config_answers_503_until_a_sighup_fixes_it(
    harness: Harness, tmp_path: Any
) -> None:
    """8.4, standalone: started (say, after a crash) with a YAML error in the file, nothing is 202'd to nobody."""
    config = tmp_path / "destinations.yaml"
    config.write_text("items: [\n")
    await harness.start([])
    harness.pipeline.loaded = False  # as a fresh process: the file is the first config it sees
    load_config(str(config), harness.settings, harness.pipeline)
    assert (await harness.post(detected(A))).status_code == 503
    ready = await harness.http.get(harness.url.replace("/notifications", "/readyz"))
    assert ready.status_code == 503 and "cannot be read" in ready.json()["message"]
    config.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [secret("primary")]}))
    load_config(str(config), harness.settings, harness.pipeline)  # what SIGHUP does
    await harness.ready(DEST)
    assert (await harness.post(detected(A))).json()["destinations"] == [DEST]
    await harness.idle()
    assert len(of(harness, A)) == 1


async def test_a_sighup_with_a_typo_keeps_the_destination_under_its_own_id(harness: Harness, tmp_path: Any) -> None:
    """8.4, standalone: reload a config whose only destination has a typo, then the fixed one."""
    config = tmp_path / "destinations.json"
    good = {"apiVersion": "v1", "kind": "List", "items": [secret("primary")]}
    config.write_text(json.dumps(good))
    await harness.start([])
    load_config(str(config), harness.settings, harness.pipeline)
    await harness.ready(DEST)
    await harness.post(detected(A))
    await harness.idle()
    bad = json.loads(json.dumps(good))
    bad["items"][0]["stringData"]["notif_config_min_severity"] = "Hihg"
    config.write_text(json.dumps(bad))
    load_config(str(config), harness.settings, harness.pipeline)  # what SIGHUP does
    assert list(harness.pipeline.invalid) == [DEST]
    assert (await harness.post(cleared(A, "2026-11-26T10:30:00Z"))).json()["destinations"] == [DEST]
    config.write_text(json.dumps(good))
    load_config(str(config), harness.settings, harness.pipeline)
    await harness.ready(DEST)
    await harness.idle()
    assert of(harness, A)[0]["incident_status"]["category"] == "closed"


def failing_creates(harness: Harness, fails: Any) -> None:
    """Creates whose summary ``fails(summary)`` accepts get a 500 (the client's retries are not involved)."""
    from causely_incidentio.destinations import DestinationConfig
    from causely_incidentio.incidentio import IncidentIOClient
    from causely_incidentio.incidentio.errors import ServerError

    def factory(config: DestinationConfig) -> IncidentIOClient:
        worker = harness.pipeline.workers[config.id]
        client = IncidentIOClient(API_TOKEN, base_url=harness.sim.base_url, on_request=worker._on_request)
        real = client.create_incident

        async def create(**kw: Any) -> Any:
            if fails(kw["summary"]):
                raise ServerError("internal error", endpoint="POST /v2/incidents", status=500)
            return await real(**kw)

        client.create_incident = create  # type: ignore[method-assign]
        return client

    harness.worker_options["client_factory"] = factory


async def test_a_create_incident_io_fails_alone_is_given_up_but_an_outage_never_uses_the_budget(
    harness: Harness,
) -> None:
    """8.1: transient failures count against the budget only while incident.io accepts other writes."""
    harness.worker_options.update(max_failing_strikes=3, max_retry_delay=0.1)
    outage = True
    failing_creates(harness, lambda summary: outage or A in summary)
    await harness.start([harness.dest("primary")])
    await harness.ready(DEST)
    await harness.post(detected(A))
    await asyncio.sleep(1.5)  # many passes, every write failing: an outage
    assert (await harness.journal.backlog(DEST))[0] == 1
    assert not any(reason == "ActionAbandoned" for _, reason, _ in harness.events)
    outage = False  # incident.io is back, but keeps failing A's create alone
    for i in range(8):  # other findings' writes go through meanwhile
        await harness.post(detected(f"c0c0c0c0-0000-4000-8000-00000000000{i}"))
        await asyncio.sleep(0.3)
    await harness.idle(timeout=20)
    record = await harness.record(DEST, A)
    assert record.state is State.FAILED and "given up" in (record.last_error or "")
    metrics = harness.pipeline.metrics.render().decode()
    assert f'causely_incidentio_actions_abandoned_total{{destination="{DEST}",reason="failing"}} 1.0' in metrics
