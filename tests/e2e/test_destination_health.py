"""A destination whose deliveries keep failing says so on the real API server: Degraded=True with the reason,
Ready=False, Argo CD's health check (docs/argocd-health.lua) Progressing while incident.io answers 503 — and
everything back to Ready once incident.io recovers, with one incident for the finding."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from causely_docs import detected
from kubeapi import KubeAPIServer
from lupa import LuaRuntime
from operator_harness import API_TOKEN, OperatorProcess, SimulatorProcess, wait_for

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "argocd-health.lua"
REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")


def argo_health(obj: dict[str, Any]) -> tuple[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT.read_text())
    return str(result["status"]), str(result["message"])


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorProcess]:
    s = SimulatorProcess(tmp_path, [API_TOKEN])  # its own: the test injects faults and resets it
    yield s
    s.stop()


@pytest.fixture
def operator(kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, sim: SimulatorProcess,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    # One second of client retries per call, so three failed attempts take seconds, not minutes.
    op = OperatorProcess(kube_api, namespace, sim.base_url, tmp_path,
                         extra_env={"INCIDENT_IO_RETRY_MAX_SECONDS": "1"}).start()
    yield op
    op.stop()
    assert API_TOKEN not in op.output()


def test_incidentio_down_is_degraded_and_progressing_then_ready_again(
    operator: OperatorProcess, sim: SimulatorProcess
) -> None:
    op = operator
    op.apply({"apiVersion": "v1", "kind": "Secret", "stringData": {"token": API_TOKEN},  # opted in as a token
              "metadata": {"name": "key", "labels": {"notifications.causely.ai/incident-io-token": "true"}}})
    op.apply({"apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
              "metadata": {"name": "oncall"},
              "spec": {"tokenSecretRef": {"name": "key", "key": "token"}, "resolvedStatusName": "Fixed"}})
    op.wait_condition("oncall", "Ready", "True")
    healthy = op.wait_condition("oncall", "Degraded", "False")
    assert healthy["reason"] == "AsExpected"
    assert argo_health(op.get("incidentdestination", "oncall") or {})[0] == "Healthy"

    sim.control("faults", {"count": 10_000, "kind": "503", "method": "POST", "path_prefix": "/v2/incidents"})
    oid = str(uuid.uuid4())
    assert op.post(detected(oid, "High")).status_code == 202

    degraded = op.wait_condition("oncall", "Degraded", "True", timeout=120)
    assert degraded["reason"] == "IncidentIOUnreachable", degraded
    assert "POST /v2/incidents: HTTP 503" in degraded["message"] and "1 finding(s)" in degraded["message"]
    assert "request_id" not in degraded["message"]  # nothing of incident.io's answer itself
    obj = op.get("incidentdestination", "oncall") or {}
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("False", "IncidentIOUnreachable")
    assert conditions["Authenticated"]["status"] == "True" and conditions["ConfigValid"]["status"] == "True"
    for cond in conditions.values():
        assert {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"} <= set(cond)
        assert REASON.match(cond["reason"]) and cond["observedGeneration"] == obj["metadata"]["generation"]
    assert conditions["Degraded"]["lastTransitionTime"] >= healthy["lastTransitionTime"]
    assert argo_health(obj)[0] == "Progressing"  # incident.io's outage does not fail an Argo CD sync
    assert not [i for i in sim.incidents() if oid in str(i.get("summary"))]

    httpx.post(sim.base_url + "/_simulator/reset", timeout=10).raise_for_status()  # incident.io is back
    recovered = op.wait_condition("oncall", "Degraded", "False", timeout=120)
    assert recovered["reason"] == "AsExpected"
    op.wait_condition("oncall", "Ready", "True")
    wait_for(lambda: len([i for i in sim.incidents() if oid in str(i.get("summary"))]) == 1, "the incident")
    assert argo_health(op.get("incidentdestination", "oncall") or {})[0] == "Healthy"
