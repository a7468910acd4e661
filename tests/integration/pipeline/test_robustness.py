"""Failure modes found in review: each test would fail on the code before its fix."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pipeline_harness import API_TOKEN, Harness, cleared, detected

from causely_incidentio.destinations import DestinationConfig
from causely_incidentio.incidentio import IncidentIOClient, PermissionDeniedError
from causely_incidentio.problems import InvalidInput, Problem
from causely_incidentio.sync.engine import idempotency_key
from causely_incidentio.sync.journal import JournalUnavailable
from causely_incidentio.sync.records import State

pytestmark = pytest.mark.integration

A = "77777777-7777-4777-8777-777777777777"
B = "88888888-8888-4888-8888-888888888888"
DEST = "secret/causely/primary"


async def test_a_key_that_can_read_but_not_write_is_not_retried_in_a_loop(harness: Harness) -> None:
    def read_only_client(config: DestinationConfig) -> IncidentIOClient:
        client = IncidentIOClient(API_TOKEN, base_url=harness.sim.base_url)

        async def refuse(**_: Any) -> Any:
            raise PermissionDeniedError("missing role incident_creator", endpoint="POST /v2/incidents", status=403)

        client.create_incident = refuse  # type: ignore[method-assign]
        return client

    harness.worker_options["client_factory"] = read_only_client
    await harness.start([harness.dest("primary")])
    await harness.post(detected(A))
    worker = harness.pipeline.workers[DEST]
    for _ in range(200):
        if worker.health.authenticated is False:
            break
        await asyncio.sleep(0.01)
    assert worker.health.reason == "Forbidden"
    before = len(harness.sim.requests)
    for _ in range(10):
        worker.wake()
        await asyncio.sleep(0.05)
    assert len(harness.sim.requests) == before  # paused: no identity/create loop
    assert await harness.journal.pending_count(DEST) == 1  # kept for when the key gets the role


async def test_an_unexpected_error_in_one_finding_does_not_duplicate_another(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    worker = harness.pipeline.workers[DEST]
    await harness.ready(DEST)
    await worker.stop()  # queue everything first, then drain once with a journal that fails for A
    await harness.post(detected(A))
    await harness.post(detected(B))
    await harness.post(cleared(B, "2026-11-26T10:30:00Z"))
    original = harness.journal.complete
    failed = False

    async def flaky(action: Any, record: Any, counter: Any, history: Any) -> None:
        nonlocal failed
        if action.object_id == A and not failed:
            failed = True
            raise RuntimeError("disk hiccup")
        await asyncio.sleep(0.05)  # B's group is still running when A's fails
        await original(action, record, counter, history)

    harness.journal.complete = flaky  # type: ignore[method-assign]
    harness.pipeline.workers.pop(DEST)
    worker = harness.pipeline.upsert(harness.dest("primary"))
    await worker.wait_idle()
    await asyncio.sleep(0.3)
    by_finding = {oid: [i for i in harness.incidents() if oid in i["summary"]] for oid in (A, B)}
    assert len(by_finding[A]) == 1 and len(by_finding[B]) == 1
    assert by_finding[B][0]["incident_status"]["category"] == "closed"
    assert (await harness.journal.counters(DEST)).created == 2


async def test_a_destination_that_is_briefly_invalid_still_gets_the_clear(harness: Harness) -> None:
    await harness.start([harness.dest("primary")])
    await harness.post(detected(A))
    await harness.idle()
    harness.pipeline.mark_invalid(DEST, InvalidInput("Secret causely/primary", [Problem("token", "missing")]))
    r = await harness.post(cleared(A, "2026-11-26T10:30:00Z"))
    assert r.json()["destinations"] == [DEST]  # journaled although the destination cannot deliver now
    await asyncio.sleep(0.1)
    harness.pipeline.upsert(harness.dest("primary"))  # the token Secret is back
    await harness.idle()
    (inc,) = harness.incidents()
    assert inc["incident_status"]["name"] == "Resolved"


async def test_one_full_destination_does_not_block_the_others(harness: Harness) -> None:
    await harness.start([harness.dest("full"), harness.dest("healthy")])
    original = harness.journal.accept

    async def budget(intakes: Any) -> None:
        if any(i.destination_id == "secret/causely/full" for i in intakes):
            raise JournalUnavailable("status at its budget")
        await original(intakes)

    harness.journal.accept = budget  # type: ignore[method-assign]
    r = await harness.post(detected(A))
    assert r.status_code == 202
    assert r.json()["destinations"] == ["secret/causely/healthy"] and r.json()["refused"] == ["secret/causely/full"]
    assert any(e[0] == "secret/causely/full" and e[1] == "NotificationRejected" for e in harness.events)
    harness.pipeline.workers.pop("secret/causely/healthy")  # only the full one left: nothing can take it
    harness.pipeline.configs.pop("secret/causely/healthy")
    assert (await harness.post(detected(B))).status_code == 503


async def _incident_for_key(harness: Harness, key: str) -> dict[str, Any]:
    async with IncidentIOClient(API_TOKEN, base_url=harness.sim.base_url) as client:
        sev = harness.sim.organisation.severities[-1]["id"]
        inc = await client.create_incident(idempotency_key=key, visibility="public", name="x", severity_id=sev)
    harness.sim.close_incident(inc.reference, "Closed")
    return harness.sim.incident(inc.id)


async def test_replayed_key_of_an_incident_a_human_closed_after_a_crash_is_recorded_not_reopened(
    harness: Harness,
) -> None:
    # The worker created INC-1 for this detection, crashed before recording it, and a human closed it.
    await _incident_for_key(harness, idempotency_key(DEST, A, 1))
    await harness.start([harness.dest("primary")])
    await harness.post(detected(A, ts="2020-01-01T00:00:00Z"))  # detected before the incident was created
    await harness.idle()
    assert len(harness.incidents()) == 1
    assert (await harness.record(DEST, A)).state is State.CLOSED_OUTSIDE


async def test_replayed_key_of_an_older_ended_incident_opens_the_next_occurrence(harness: Harness) -> None:
    # The record of occurrence 1 was pruned long ago; this is a new detection, after that incident ended.
    await _incident_for_key(harness, idempotency_key(DEST, A, 1))
    await harness.start([harness.dest("primary")])
    await harness.post(detected(A, ts="2099-01-01T00:00:00Z"))
    await harness.idle()
    assert len(harness.incidents()) == 2
    rec = await harness.record(DEST, A)
    assert rec.state is State.OPEN and rec.occurrence == 2
