"""The Kubernetes pipeline in one process: receiver → Finding store (an API with the server's concurrency rules)
→ the leader's worker → the spec-validating simulator. Races notifications against reconciling."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import pytest
from causely_docs import causely_secret, detected
from finding_fakes import FakeFindingApi

from causely_incidentio.destinations import from_secret
from causely_incidentio.kube.findingstore import FindingStore
from causely_incidentio.payload import parse_notification
from causely_incidentio.settings import Settings
from causely_incidentio.simulator import Simulator
from causely_incidentio.sync.pipeline import Pipeline

pytestmark = pytest.mark.integration
API_TOKEN = "sim-api-token-findings-01"


def cleared(oid: str, ts: str) -> dict[str, Any]:
    return detected(oid, "Medium", ts, type="ProblemCleared")


async def accept(pipeline: Pipeline, doc: dict[str, Any]) -> None:
    raw = json.dumps(doc).encode()
    await pipeline.accept(parse_notification(raw), raw)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_notifications_racing_the_reconciler_all_end_as_their_last_notification_says(seed: int) -> None:
    rng = random.Random(seed)
    async with Simulator(tokens=[API_TOKEN], latency_ms=5) as sim:
        settings = Settings(incident_io_api_url=sim.base_url, incident_io_allowed_api_urls=sim.base_url)
        api = FakeFindingApi()

        async def jitter() -> None:
            await asyncio.sleep(rng.random() * 0.01)

        api.before_write = jitter
        leader, follower = FindingStore(api), FindingStore(api)
        pipeline = Pipeline(leader, settings, worker_options={"retry_delay": 0.05, "max_retry_delay": 0.2},
                            active=True)
        leader.on_work = lambda d: pipeline.workers[d].wake() if d in pipeline.workers else None
        receiving = Pipeline(follower, settings, active=False)  # another replica's receiver
        dest = from_secret(causely_secret("race", API_TOKEN, namespace="ns"), settings)
        pipeline.set_destinations([dest])
        receiving.set_destinations([dest])

        def relay() -> None:  # the watch: each replica sees the other's writes, a little late
            for (_ns, _name), obj in list(api.objects.items()):
                leader.observe(None, obj)
                follower.observe(None, obj)

        ids = [str(uuid.uuid4()) for _ in range(25)]
        try:
            for oid in ids:
                target = pipeline if rng.random() < 0.5 else receiving
                await accept(target, detected(oid, "Critical", "2026-11-26T10:00:00Z"))
                relay()
                if rng.random() < 0.7:
                    await asyncio.sleep(rng.random() * 0.05)
                target = pipeline if rng.random() < 0.5 else receiving
                await accept(target, cleared(oid, "2026-11-26T10:30:00Z"))
                relay()
            for _ in range(400):
                relay()
                if not any(e.has_work for e in leader.entries()):
                    break
                await asyncio.sleep(0.05)
            else:
                stuck = [(e.object_id, e.generation, e.observed, e.payload is not None, e.not_before)
                         for e in leader.entries() if e.has_work]
                raise AssertionError(f"Findings still with work: {stuck}")
        finally:
            await pipeline.stop()
        states = {e.object_id: e.record.state.value if e.record else None for e in leader.entries()}
        assert set(states) == set(ids)
        # every finding ends as its last notification (a clear) says: resolved, or never opened
        assert set(states.values()) <= {"resolved", "cleared-unknown"}, states
        incidents = sim.incidents(include_all_modes=True)
        per_object: dict[str, int] = {}
        for inc in incidents:
            for oid in ids:
                if oid in str(inc.get("summary")):
                    per_object[oid] = per_object.get(oid, 0) + 1
        assert all(n == 1 for n in per_object.values())
        assert all(inc["incident_status"]["category"] in ("closed", "learning") for inc in incidents)
