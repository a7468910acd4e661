"""Issue 8 in Kubernetes mode (Finding store, leader's worker, simulator): the attempt budget and the resolve's
write-ahead mark. Each test fails on the code before its fix."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
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
from causely_incidentio.sync.records import FindingRecord, State

pytestmark = pytest.mark.integration
API_TOKEN = "sim-api-token-findings-02"
A = "a1a1a1a1-0000-4000-8000-0000000000aa"


class Kube:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.store = FindingStore(FakeFindingApi(), retry_delay=0.05, max_retry_delay=0.2)
        self.events: list[tuple[str, str]] = []
        self.pipeline = Pipeline(
            self.store, Settings(incident_io_api_url=sim.base_url, incident_io_allowed_api_urls=sim.base_url),
            worker_options={"retry_delay": 0.05, "max_retry_delay": 0.2},
            events=lambda d, reason, message, **_: self.events.append((reason, message)), active=True,
        )
        self.store.on_work = lambda d: self.pipeline.workers[d].wake() if d in self.pipeline.workers else None
        self.dest = from_secret(causely_secret("trust", API_TOKEN, namespace="ns"), self.pipeline.settings)
        self.pipeline.set_destinations([self.dest])

    async def post(self, doc: dict[str, Any]) -> None:
        raw = json.dumps(doc).encode()
        await self.pipeline.accept(parse_notification(raw), raw)

    async def settled(self, timeout: float = 20.0) -> None:
        for _ in range(int(timeout / 0.05)):
            if not any(e.has_work for e in self.store.entries()):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("Findings still with work")

    def record(self) -> FindingRecord | None:
        e = self.store.entry(self.dest.id, A)
        return e.record if e else None


@pytest.fixture
async def kube() -> AsyncIterator[Kube]:
    async with Simulator(tokens=[API_TOKEN]) as sim:
        k = Kube(sim)
        yield k
        await k.pipeline.stop()


async def test_an_action_that_keeps_failing_unexpectedly_ends_failed_and_the_clear_still_resolves(kube: Kube) -> None:
    original = kube.store.complete

    async def poisoned(action: Any, record: FindingRecord, counter: Any, history: Any) -> None:
        if record.object_id == A and record.state is State.OPEN:
            raise OverflowError("cannot store this outcome")
        await original(action, record, counter, history)

    kube.store.complete = poisoned  # type: ignore[method-assign]
    await kube.post(detected(A, "Critical", "2026-11-26T10:00:00Z"))
    await kube.settled()
    assert any(reason == "ActionAbandoned" for reason, _ in kube.events)
    assert (rec := kube.record()) is not None and rec.state is State.FAILED and rec.create_attempted == 1
    await kube.post(detected(A, "Medium", "2026-11-26T10:30:00Z", type="ProblemCleared"))
    await kube.settled()
    incidents = [i for i in kube.sim.incidents() if A in i["summary"]]
    assert len(incidents) == 1 and incidents[0]["incident_status"]["category"] == "closed"
    assert (rec := kube.record()) is not None and rec.state is State.RESOLVED
    metrics = kube.pipeline.metrics.render().decode()
    assert (f'causely_incidentio_actions_abandoned_total{{destination="{kube.dest.id}",reason="unexpected"}} 1.0'
            in metrics)


async def test_the_operators_own_resolve_is_not_taken_for_a_human_after_a_lost_status_write(kube: Kube) -> None:
    await kube.post(detected(A, "Critical", "2026-11-26T10:00:00Z"))
    await kube.settled()
    original = kube.store.complete
    lost = False

    async def lose_once(action: Any, record: FindingRecord, counter: Any, history: Any) -> None:
        nonlocal lost
        if record.state is State.RESOLVED and not lost:
            lost = True
            raise RuntimeError("the leader died between the resolve call and the status write")
        await original(action, record, counter, history)

    kube.store.complete = lose_once  # type: ignore[method-assign]
    await kube.post(detected(A, "Medium", "2026-11-26T10:30:00Z", type="ProblemCleared"))
    await kube.settled()
    assert lost
    assert (rec := kube.record()) is not None and rec.state is State.RESOLVED
    assert kube.store.counter_values(kube.dest.id).get("resolved") == 1
    assert not any(reason == "IncidentClosedOutside" for reason, _ in kube.events)


async def test_a_new_finding_routed_while_the_destination_is_invalid_is_kept_and_delivered(kube: Kube) -> None:
    """8.4: a bad edit (or a token Secret briefly gone) must not turn a new finding into ``destinations: []``."""
    from causely_incidentio.problems import InvalidInput, Problem

    kube.pipeline.mark_invalid(kube.dest.id, InvalidInput("Secret ns/trust", [Problem("x", "typo")]))
    assert kube.pipeline.readiness()[0] is False
    raw = json.dumps(detected(A, "Critical", "2026-11-26T10:00:00Z")).encode()
    result = await kube.pipeline.accept(parse_notification(raw), raw)
    assert result.destinations == [kube.dest.id]
    assert kube.store.entry(kube.dest.id, A) is not None  # its Finding is written
    kube.pipeline.upsert(kube.dest)
    assert kube.pipeline.readiness()[0] is True
    await kube.settled()
    assert len([i for i in kube.sim.incidents() if A in i["summary"]]) == 1
