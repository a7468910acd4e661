"""Failures on the incident.io side: retries still give exactly one incident; auth and config errors isolate."""

from __future__ import annotations

import asyncio

import pytest
from pipeline_harness import Harness, cleared, detected

from causely_incidentio.sync.records import State

pytestmark = pytest.mark.integration

A = "33333333-3333-4333-8333-333333333333"
DEST = "secret/causely/primary"


@pytest.mark.parametrize("kind", ["500", "503", "429", "timeout", "reset"])
async def test_transient_failures_on_create_still_give_exactly_one_incident(harness: Harness, kind: str) -> None:
    await harness.start([harness.dest("primary")])
    await harness.pipeline.workers[DEST].wait_idle()
    harness.sim.fail_next(2, kind, method="POST", path_prefix="/v2/incidents")
    await harness.post(detected(A))
    await harness.idle()
    assert len(harness.incidents()) == 1
    assert (await harness.record(DEST, A)).state is State.OPEN


async def test_response_lost_after_the_incident_was_created_is_not_a_second_incident(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    harness.sim.fail_next(1, "500", method="POST", path_prefix="/v2/incidents", after_processing=True)
    harness.sim.fail_next(1, "reset", method="POST", path_prefix="/v2/incidents", after_processing=True)
    await harness.post(detected(A))
    await harness.idle()
    assert len(harness.incidents()) == 1
    creates = [r for r in harness.sim.requests if r.method == "POST" and r.path == "/v2/incidents"]
    assert len(creates) == 3  # two replays of the same idempotency key, one incident


async def test_outage_longer_than_the_retry_budget_keeps_the_action_pending_then_delivers(harness: Harness) -> None:
    harness.settings = harness.settings.model_copy(update={"incident_io_retry_max_seconds": 0.3})
    await harness.start([harness.dest("primary")])
    harness.sim.fail_next(12, "503", method="POST", path_prefix="/v2/incidents")
    await harness.post(detected(A))
    await harness.idle(timeout=60)
    assert len(harness.incidents()) == 1
    history = await harness.journal.history(DEST)
    assert [h.decision for h in history] == ["create"]


async def test_config_naming_an_unknown_severity_keeps_actions_pending(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    worker = harness.pipeline.workers[DEST]
    await worker.wait_idle()
    worker.reconfigure(worker.config.evolve(severity_id="01NOSUCHSEVERITY0000000000"))
    await harness.post(detected(A))
    for _ in range(500):
        if not worker.health.config_valid:
            break
        await harness.sim_sleep()
    # The bad severity id is a config error caught before any delivery: nothing is sent, nothing is lost.
    assert not worker.health.config_valid and "severityID" in worker.health.config_message
    assert harness.incidents() == []
    assert await harness.journal.pending_count(DEST) == 1
    worker.reconfigure(worker.config.evolve(severity_id=None))  # fixed: the kept action is delivered
    await worker.wait_idle()
    assert len(harness.incidents()) == 1


async def test_a_config_replaced_while_it_is_being_checked_is_checked_before_any_delivery(
    harness: Harness,
) -> None:
    harness.sim.latency_ms = 40  # the first check (identity, statuses, severities) takes a while
    await harness.start([harness.dest("primary")])
    worker = harness.pipeline.workers[DEST]
    await asyncio.sleep(0.05)  # the check of the good config is in flight now
    worker.reconfigure(worker.config.evolve(severity_id="01NOSUCHSEVERITY0000000000"))
    await harness.post(detected(A))
    for _ in range(500):
        if not worker.health.config_valid:
            break
        await harness.sim_sleep()
    assert not worker.health.config_valid
    assert await harness.journal.pending_count(DEST) == 1  # never delivered with the unchecked config
    assert harness.incidents() == []


async def test_permanent_failure_is_recorded_and_does_not_block_other_findings(harness: Harness) -> None:
    await harness.start([harness.dest("primary", notif_config_severity_map='{"Critical": "Minor"}')])
    await harness.ready(DEST)
    # An admin deletes the "Minor" severity after the destination was checked: creates naming it get a 422.
    harness.sim.organisation.severities[:] = [
        s for s in harness.sim.organisation.severities if s["name"] != "Minor"
    ]
    await harness.post(detected(A, "Critical"))
    await harness.post(detected("44444444-4444-4444-8444-444444444444", "High"))
    await harness.idle()
    rec = await harness.record(DEST, A)
    other = await harness.record(DEST, "44444444-4444-4444-8444-444444444444")
    assert {rec.state, other.state} == {State.FAILED, State.OPEN}
    failed = rec if rec.state is State.FAILED else other
    assert failed.last_error and "422" in failed.last_error
    assert (await harness.journal.counters(DEST)).failed == 1
    assert any(e[1] == "DeliveryFailed" for e in harness.events)
    assert len(harness.incidents()) == 1


async def test_unauthenticated_destination_pauses_without_a_retry_loop_and_others_carry_on(harness: Harness) -> None:
    bad = harness.dest("bad-key", token="not-a-valid-key")
    good = harness.dest("good-key")
    await harness.start([bad, good])
    await harness.post(detected(A))
    await harness.pipeline.workers["secret/causely/good-key"].wait_idle()
    assert len(harness.incidents()) == 1
    bad_worker = harness.pipeline.workers["secret/causely/bad-key"]
    assert bad_worker.health.authenticated is False and bad_worker.health.reason == "Unauthenticated"
    assert "not-a-valid-key" not in bad_worker.health.message
    before = len(harness.sim.requests)
    for _ in range(5):
        bad_worker.wake()
    await harness.pipeline.workers["secret/causely/good-key"].wait_idle()
    assert len(harness.sim.requests) - before <= 1  # no retry loop against a refused key
    assert await harness.journal.pending_count("secret/causely/bad-key") == 1  # kept for when the key is fixed

    # Rotating the token (a new config with a new fingerprint) resumes delivery without a restart.
    bad_worker.reconfigure(harness.dest("bad-key", token="second-api-token-987"))
    await bad_worker.wait_idle()
    assert bad_worker.health.authenticated is True
    assert len(harness.incidents()) == 2


async def test_forbidden_key_is_reported_as_forbidden(harness: Harness) -> None:
    await harness.start([harness.dest("forbidden", token="forbidden-token-1")])
    await harness.post(detected(A))
    worker = harness.pipeline.workers["secret/causely/forbidden"]
    for _ in range(100):
        if worker.health.authenticated is False:
            break
        await harness.sim_sleep()
    assert worker.health.reason == "Forbidden"


async def test_resolved_status_must_be_a_resolved_category(harness: Harness) -> None:
    live = harness.dest("live-status", notif_config_resolved_status_name="Monitoring")
    unknown = harness.dest("unknown-status", notif_config_resolved_status_name="Nope")
    good = harness.dest("good")
    await harness.start([live, unknown, good])
    await harness.post(detected(A))
    await harness.pipeline.workers["secret/causely/good"].wait_idle()
    await harness.post(cleared(A, "2026-11-26T12:00:00Z"))
    await harness.pipeline.workers["secret/causely/good"].wait_idle()
    (inc,) = harness.incidents()  # only the valid destination delivered
    assert inc["incident_status"]["category"] == "closed"
    live_health = harness.pipeline.workers["secret/causely/live-status"].health
    assert not live_health.config_valid and "'live'" in live_health.config_message
    unknown_health = harness.pipeline.workers["secret/causely/unknown-status"].health
    assert not unknown_health.config_valid and "Nope" in unknown_health.config_message
