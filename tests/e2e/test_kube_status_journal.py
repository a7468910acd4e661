"""The Kubernetes-status journal on a real API server: entries land in status, and a new journal resumes them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubeapi import KubeAPIServer
from kubernetes_asyncio import client, config

from causely_incidentio.destinations import from_env
from causely_incidentio.incidentio import close_pools
from causely_incidentio.kube import codec
from causely_incidentio.kube.api import KubeApi
from causely_incidentio.kube.journal import KubeStatusJournal
from causely_incidentio.payload import parse_notification
from causely_incidentio.settings import Settings
from causely_incidentio.simulator import Simulator
from causely_incidentio.sync.journal import HistoryEntry
from causely_incidentio.sync.pipeline import Pipeline
from causely_incidentio.sync.records import FindingRecord, Intake, State

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = ROOT / "tests" / "fixtures" / "payloads" / "detected-high-slo.json"
NAME = "journal"
SIM_TOKEN = "sim-api-token-e2e-journal"


def payload(oid: str) -> bytes:
    body = json.loads(PAYLOAD.read_text())
    body["objectId"] = oid
    return json.dumps(body).encode()


def get_object(kube: KubeAPIServer, namespace: str) -> dict[str, Any]:
    out = kube.kubectl("get", "incidentdestination", NAME, "-n", namespace, "-o", "json").stdout
    obj: dict[str, Any] = json.loads(out)
    return obj


@pytest.fixture
async def kube_client(kube_api: KubeAPIServer) -> AsyncIterator[KubeApi]:
    """A client of its own configuration (not the process-wide default other tests may set)."""
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kube_api.kubeconfig_admin), client_configuration=configuration)
    api = KubeApi(client.ApiClient(configuration=configuration))
    yield api
    await api.close()
    await close_pools()  # the incident.io clients' connection pools, if a test used them


@pytest.fixture
def destination(kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str) -> str:
    kube_api.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
        "metadata": {"name": NAME}, "spec": {"tokenSecretRef": {"name": "incidentio"}},
    }))
    return f"{namespace}/{NAME}"


async def test_accepted_actions_are_in_status_and_a_new_journal_resumes_them(
    kube_api: KubeAPIServer, kube_client: KubeApi, namespace: str, destination: str
) -> None:
    journal = KubeStatusJournal(kube_client)
    journal.attach(destination, namespace, NAME, None)
    oids = ["81703742-b81a-43b0-8509-1e9ac718e2e3", "b2", "c3"]
    for oid in oids:
        await journal.accept([Intake(destination, oid, payload(oid), 1_750_000_000.0)])

    status = get_object(kube_api, namespace)["status"]
    stored = [codec.decode_pending(destination, k, v) for k, v in sorted(status["pending"].items())]
    assert [a.object_id for a in stored] == oids
    assert stored[0].payload == payload(oids[0])
    assert status["pendingActions"] == 3

    first, *_ = await journal.pending(destination)
    opened = FindingRecord(
        destination, first.object_id, state=State.OPEN, incident_id="01JF0000000000000000000000", reference="INC-1",
        permalink="https://app.incident.io/incidents/1", severity="High", created_at=1.0, updated_at=1.0,
    )
    await journal.complete(first, opened, "created", HistoryEntry(destination, first.object_id, "x", "create", "t"))
    journal.set_fields(destination, {"conditions": [
        {"type": "Ready", "status": "True", "reason": "Ready", "message": "syncing",
         "lastTransitionTime": "2026-01-01T00:00:00Z"},
    ]})
    await journal.close()

    obj = get_object(kube_api, namespace)
    status = obj["status"]
    assert (status["openIncidents"], status["pendingActions"], status["counters"]["created"]) == (1, 2, 1)
    assert codec.decode_record(destination, first.object_id, status["incidents"][first.object_id]) == opened
    assert status["conditions"][0]["reason"] == "Ready"
    columns = kube_api.kubectl("get", "incidentdestination", NAME, "-n", namespace, "--no-headers").stdout.split()
    assert columns[:5] == [NAME, "True", "Ready", "1", "1"]  # Ready, Reason, Open, Created from status

    again = KubeStatusJournal(kube_client)
    again.attach(destination, namespace, NAME, status)
    try:
        resumed = await again.pending(destination)
        assert [a.object_id for a in resumed] == oids[1:]
        assert await again.record(destination, first.object_id) == opened
        assert (await again.counters(destination)).created == 1
        await again.accept([Intake(destination, "d4", payload("d4"), 1_750_000_001.0)])
        assert [a.seq for a in await again.pending(destination)] == [2, 3, 4]
    finally:
        await again.close()
    assert sorted(get_object(kube_api, namespace)["status"]["pending"]) == ["0000000002", "0000000003", "0000000004"]


async def test_the_pipeline_delivers_through_the_status_journal_and_resumes_from_it(
    kube_api: KubeAPIServer, kube_client: KubeApi, namespace: str, destination: str
) -> None:
    """Receiver side, worker and simulator on the status journal: the same lifecycle as with SQLite."""
    async with Simulator(tokens=[SIM_TOKEN]) as sim:
        settings = Settings(incident_io_api_token=SIM_TOKEN, incident_io_api_url=sim.base_url,
                            incident_io_resolved_status_name="Resolved", incident_io_read_timeout=2.0)
        config = from_env(settings)
        assert config is not None
        journal = KubeStatusJournal(kube_client)
        journal.attach(config.id, namespace, NAME, None)
        pipeline = Pipeline(journal, settings, worker_options={"retry_delay": 0.05, "max_retry_delay": 0.2})
        try:
            pipeline.set_destinations([config])
            oid = "0f4c5b9e-7d0c-4b7e-9a51-2b1f0c3d4e5f"
            detected = payload(oid)
            assert (await pipeline.accept(parse_notification(detected), detected)).destinations == [config.id]
            await pipeline.wait_idle()
            await journal.flush(config.id)
            status = get_object(kube_api, namespace)["status"]
            (incident,) = sim.incidents()
            rec = codec.decode_record(config.id, oid, status["incidents"][oid])
            assert (rec.state, rec.incident_id, rec.reference) == (State.OPEN, incident["id"], incident["reference"])
            assert (status["openIncidents"], status["counters"]["created"], status["pendingActions"]) == (1, 1, 0)
        finally:
            await pipeline.stop()
            await journal.close()

        again = KubeStatusJournal(kube_client)
        again.attach(config.id, namespace, NAME, get_object(kube_api, namespace)["status"])
        pipeline = Pipeline(again, settings, worker_options={"retry_delay": 0.05, "max_retry_delay": 0.2})
        try:
            pipeline.set_destinations([config])
            body = json.loads(detected)
            body.update(type="ProblemCleared", timestamp="2026-11-26T10:00:00Z")
            cleared = json.dumps(body).encode()
            await pipeline.accept(parse_notification(cleared), cleared)
            await pipeline.wait_idle()
            await again.flush(config.id)
        finally:
            await pipeline.stop()
            await again.close()
        status = get_object(kube_api, namespace)["status"]
        assert codec.decode_record(config.id, oid, status["incidents"][oid]).state is State.RESOLVED
        assert (status["openIncidents"], status["counters"]["resolved"]) == (0, 1)
        assert len(sim.incidents()) == 1
