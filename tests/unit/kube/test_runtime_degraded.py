"""The leader's status pass turns what the destination's Findings say into its Degraded condition.

The runtime is built on in-memory fakes (tests/support): the Findings are observed as the watch would deliver
them, and the IncidentDestination status patch is captured.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from causely_docs import detected
from finding_fakes import FakeFindingApi
from kubernetes_asyncio.client import Configuration

from causely_incidentio.incidentio.errors import ServerError, ValidationError
from causely_incidentio.kube import findings as F
from causely_incidentio.kube.runtime import OperatorRuntime
from causely_incidentio.payload import parse_notification
from causely_incidentio.settings import Settings
from causely_incidentio.sync.records import FindingRecord, State
from causely_incidentio.sync.worker import Health

DEST = "incidentdestination/ns/dest"
BODY = "text-incidentio-sent-back-51aa"


class Api(FakeFindingApi):
    """Findings in memory, plus what the runtime needs of a KubeApi to write a destination's status."""

    def __init__(self) -> None:
        super().__init__()
        self.api_client = SimpleNamespace(configuration=Configuration())
        self.status_patches: list[dict[str, Any]] = []

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:  # type: ignore[override]
        self.status_patches.append(json.loads(json.dumps(status)))


@pytest.fixture
async def runtime() -> AsyncIterator[OperatorRuntime]:
    rt = OperatorRuntime(Api(), Settings(), namespaces=["ns"], listen=("127.0.0.1", 0), receiver_token="t",
                         home_namespace="ns")
    rt.secrets.put({"metadata": {"namespace": "ns", "name": "key", "uid": "s"},
                    "data": {"token": base64.b64encode(b"api-key-value").decode()}})
    await rt.on_destination(None, {
        "apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
        "metadata": {"namespace": "ns", "name": "dest", "uid": "d", "generation": 3},
        "spec": {"tokenSecretRef": {"name": "key", "key": "token"}},
    })
    authenticated = Health(authenticated=True, auth_reason="Authenticated", auth_message="API key 'k' accepted")
    rt.pipeline.health = lambda dest_id: authenticated if dest_id == DEST else None  # type: ignore[method-assign]
    yield rt
    await rt._lease_client.close()


def observe_finding(rt: OperatorRuntime, oid: str, record: FindingRecord, *, pending: bool) -> None:
    """A Finding as the watch delivers it: spec at generation 2, status observed 1 (work) or 2 (done)."""
    doc = detected(oid)
    raw = json.dumps(doc).encode()
    spec = F.next_spec(None, DEST, parse_notification(raw), raw, time.time()).spec
    assert spec is not None
    body = F.finding_body("ns", DEST, oid, spec)
    body["metadata"].update(generation=2, uid=f"u-{oid}", resourceVersion="7")
    body["status"] = F.status_from_record(record, observed_generation=1 if pending else 2, now=time.time())
    rt.store.observe(None, body)


def degraded(rt: OperatorRuntime) -> dict[str, Any]:
    api = rt.api
    assert isinstance(api, Api)
    conditions = {c["type"]: c for c in api.status_patches[-1]["conditions"]}
    assert conditions["Ready"]["reason"] == conditions["Degraded"]["reason"] or conditions["Ready"]["status"] == "True"
    return dict(conditions["Degraded"])


async def test_no_failing_finding_is_not_degraded(runtime: OperatorRuntime) -> None:
    observe_finding(runtime, "ok", FindingRecord(DEST, "ok", state=State.OPEN, incident_id="i"), pending=False)
    await runtime._write_status(DEST)
    cond = degraded(runtime)
    assert (cond["status"], cond["reason"], cond["observedGeneration"]) == ("False", "AsExpected", 3)


async def test_a_finding_retried_against_503s_makes_the_destination_unreachable(runtime: OperatorRuntime) -> None:
    error = str(ServerError(BODY, endpoint="POST /v2/incidents", status=503))
    observe_finding(runtime, "a", FindingRecord(DEST, "a", attempts=3, last_error=error), pending=True)
    await runtime._write_status(DEST)
    cond = degraded(runtime)
    assert (cond["status"], cond["reason"]) == ("True", "IncidentIOUnreachable")
    assert "POST /v2/incidents: HTTP 503 (1)" in cond["message"] and BODY not in cond["message"]


async def test_a_refused_create_makes_deliveries_failing_until_it_ages_out(runtime: OperatorRuntime) -> None:
    error = str(ValidationError(BODY, endpoint="POST /v2/incidents", status=422))
    record = FindingRecord(DEST, "b", state=State.FAILED, attempts=1, last_error=error)
    observe_finding(runtime, "b", record, pending=False)  # status_from_record stamps lastSyncTime = now
    await runtime._write_status(DEST)
    assert degraded(runtime)["reason"] == "DeliveriesFailing"
    assert runtime.api.status_patches[-1]["message"].startswith("DeliveriesFailing: ")  # type: ignore[attr-defined]
