"""High availability against the real API server: two operator processes, Findings as the shared state, one
leader-elected reconciler — killed, stopped, and with its destination's Secret re-created underneath it."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from causely_docs import detected
from kubeapi import KubeAPIServer
from operator_harness import (
    API_TOKEN,
    LEASE_SECONDS,
    RECEIVER_TOKEN,
    OperatorProcess,
    SimulatorProcess,
    causely_secret,
    wait_for,
)

from causely_incidentio.kube import codec
from causely_incidentio.sync.records import FindingRecord, PendingAction, State


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    s = SimulatorProcess(tmp_path_factory.mktemp("sim-ha"), [API_TOKEN])
    yield s
    s.stop()


@pytest.fixture
def pair(kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, sim: SimulatorProcess,
         tmp_path: Path) -> Iterator[tuple[OperatorProcess, OperatorProcess]]:
    a = OperatorProcess(kube_api, namespace, sim.base_url, tmp_path, identity="replica-a").start()
    b = OperatorProcess(kube_api, namespace, sim.base_url, tmp_path, identity="replica-b").start()
    yield a, b
    for op in (a, b):
        op.stop()
        assert API_TOKEN not in op.output() and RECEIVER_TOKEN not in op.output()


class _Incidents(dict[str, list[dict[str, Any]]]):
    def get(self, oid: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[oid] or default

    def __missing__(self, oid: str) -> list[dict[str, Any]]:
        return [i for i in self.all if oid in str(i.get("summary"))]

    all: list[dict[str, Any]]


def incidents_by_object(sim: SimulatorProcess) -> _Incidents:
    """Incidents by the objectId their summary names (every summary ends with it)."""
    found = _Incidents()
    found.all = sim.incidents()
    return found


def lease_holder(kube: KubeAPIServer, namespace: str) -> str | None:
    r = kube.kubectl("get", "lease", "causely-incidentio-reconciler", "-n", namespace, "-o", "json", check=False)
    return json.loads(r.stdout)["spec"].get("holderIdentity") if r.returncode == 0 else None


def findings(kube: KubeAPIServer, namespace: str) -> list[dict[str, Any]]:
    return list(json.loads(kube.kubectl("get", "findings", "-n", namespace, "-o", "json").stdout)["items"])


def by_identity(pair: tuple[OperatorProcess, OperatorProcess], identity: str) -> OperatorProcess:
    return next(op for op in pair if op.identity == identity)


def test_killing_the_leader_mid_burst_loses_nothing_and_duplicates_nothing(
    pair: tuple[OperatorProcess, OperatorProcess], sim: SimulatorProcess, kube_api: KubeAPIServer
) -> None:
    a, b = pair
    a.apply(causely_secret("ha-dest"))
    a.wait_condition("ha-dest", "Ready", "True")
    holder = wait_for(lambda: lease_holder(kube_api, a.namespace), "a Lease holder")
    leader = by_identity(pair, holder)
    follower = b if leader is a else a
    sim.control("faults", {"latency_ms": 40})
    try:
        ids = [str(uuid.uuid4()) for _ in range(200)]
        accepted: list[str] = []
        took_over_at: list[float] = []

        def watch_lease() -> None:  # while the burst goes on, note when the follower holds the Lease
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not took_over_at:
                if lease_holder(kube_api, a.namespace) == follower.identity:
                    took_over_at.append(time.monotonic())
                time.sleep(0.1)

        watcher = threading.Thread(target=watch_lease)
        for i, oid in enumerate(ids):
            if i == 60:
                leader.kill9()
                killed_at = time.monotonic()
                watcher.start()
            try:
                code = (a if i % 2 else b).post(detected(oid, "Critical")).status_code
            except httpx.TransportError:  # the killed replica's own address: the sender uses the other one
                code = follower.post(detected(oid, "Critical")).status_code
            assert code == 202, (i, code)
            accepted.append(oid)
        watcher.join()
        assert took_over_at, "the follower never took the Lease over"
        took_over = took_over_at[0] - killed_at
        wait_for(lambda: all(incidents_by_object(sim).get(oid) for oid in accepted), "every incident",
                 timeout=180)
    finally:
        sim.control("faults", {"latency_ms": 0})
    time.sleep(1.0)
    incidents = incidents_by_object(sim)
    assert sorted(accepted) == sorted(ids)
    assert {oid: len(incidents[oid]) for oid in ids} == dict.fromkeys(ids, 1)  # exactly one each
    assert took_over <= LEASE_SECONDS + 3 + 2  # lease duration, a retry period, and the kill's own latency
    wait_for(lambda: all((f.get("status") or {}).get("state") == "open" for f in findings(kube_api, a.namespace)),
             "every Finding open")


def _sender(targets: list[OperatorProcess], stop: threading.Event, results: list[tuple[str, int]]) -> None:
    """Like a Service in front of the replicas: a new connection per request, another replica only when refused."""
    i = 0
    while not stop.is_set():
        oid = str(uuid.uuid4())
        for op in targets[i % 2:] + targets[: i % 2]:
            try:
                r = httpx.post(op.url + "/notifications", json=detected(oid, "Critical"), timeout=30,
                               headers={"Authorization": f"Bearer {RECEIVER_TOKEN}", "Connection": "close"})
            except httpx.ConnectError:
                continue
            results.append((oid, r.status_code))
            break
        i += 1
        time.sleep(0.01)


@pytest.mark.parametrize("victim", ["leader", "follower"])
def test_sigterm_of_either_replica_while_sending_answers_no_5xx_and_loses_nothing(
    pair: tuple[OperatorProcess, OperatorProcess], sim: SimulatorProcess, kube_api: KubeAPIServer, victim: str
) -> None:
    a, b = pair
    a.apply(causely_secret("ha-term"))
    a.wait_condition("ha-term", "Ready", "True")
    leader = by_identity(pair, wait_for(lambda: lease_holder(kube_api, a.namespace), "a Lease holder"))
    target = leader if victim == "leader" else (b if leader is a else a)
    stop, results = threading.Event(), []
    thread = threading.Thread(target=_sender, args=([a, b], stop, results))
    thread.start()
    try:
        time.sleep(1.5)
        assert target.stop() == 0  # SIGTERM: graceful
        time.sleep(1.5)
    finally:
        stop.set()
        thread.join()
    assert results and all(code == 202 for _oid, code in results), [c for _o, c in results if c != 202]
    wait_for(lambda: all(incidents_by_object(sim).get(oid) for oid, _ in results), "every incident", timeout=60)
    incidents = incidents_by_object(sim)
    assert all(len(incidents[oid]) == 1 for oid, _ in results)
    if victim == "leader":  # it handed the Lease back: the survivor took over at once, no expiry needed
        survivor = b if target is a else a
        assert lease_holder(kube_api, a.namespace) == survivor.identity


def test_recreating_the_labelled_secret_keeps_its_findings_and_incidents(
    pair: tuple[OperatorProcess, OperatorProcess], sim: SimulatorProcess, kube_api: KubeAPIServer
) -> None:
    a, b = pair
    a.apply(causely_secret("rotating"))
    a.wait_condition("rotating", "Ready", "True")
    opened, waiting = str(uuid.uuid4()), str(uuid.uuid4())
    assert a.post(detected(opened, "Critical", "2026-11-26T10:00:00Z")).status_code == 202
    wait_for(lambda: incidents_by_object(sim).get(opened), "the first incident")
    # incident.io turns slow, so the next notification is still undelivered when its Secret goes away
    sim.control("faults", {"latency_ms": 3000})
    try:
        assert b.post(detected(waiting, "High", "2026-11-26T10:01:00Z")).status_code == 202
        kube_api.kubectl("delete", "secret", "rotating", "-n", a.namespace)
        wait_for(lambda: a.get("incidentdestination", "rotating") is None, "the mirror gone with its Secret")
        a.apply(causely_secret("rotating"))
        wait_for(lambda: a.get("incidentdestination", "rotating") is not None, "the mirror back")
    finally:
        sim.control("faults", {"latency_ms": 0})
    wait_for(lambda: incidents_by_object(sim).get(waiting), "the undelivered notification delivered", timeout=90)
    assert b.post(detected(opened, "Low", "2026-11-26T10:30:00Z", type="ProblemCleared")).status_code == 202
    wait_for(lambda: incidents_by_object(sim)[opened][0]["incident_status"]["name"] == "Resolved",
             "the later clear resolves the incident", timeout=60)
    incidents = incidents_by_object(sim)
    assert len(incidents[opened]) == 1 and len(incidents[waiting]) == 1


def test_an_old_status_journal_is_carried_over_into_findings_once(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, sim: SimulatorProcess, tmp_path: Path
) -> None:
    dest_id = f"secret/{namespace}/legacy"
    kube_api.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(causely_secret("legacy")))
    open_oid, pending_oid = str(uuid.uuid4()), str(uuid.uuid4())
    # An incident the old version opened (it exists in incident.io) and a notification it had accepted.
    sev = httpx.get(sim.base_url + "/v1/severities", headers={"Authorization": f"Bearer {API_TOKEN}"}).json()
    created = httpx.post(sim.base_url + "/v2/incidents", headers={"Authorization": f"Bearer {API_TOKEN}"}, json={
        "idempotency_key": f"causely-incidentio/{dest_id}/{open_oid}/1", "visibility": "public",
        "name": "old", "summary": f"opened by 0.1 for {open_oid}", "severity_id": sev["severities"][-1]["id"],
    }).json()["incident"]
    record = FindingRecord(dest_id, open_oid, state=State.OPEN, incident_id=created["id"],
                           reference=created["reference"], severity="Critical", last_ts_ns=1)
    raw = json.dumps(detected(pending_oid, "Critical")).encode()
    key, value = codec.encode_pending(PendingAction(1, dest_id, pending_oid, raw, 1.0), codec.encode_payload(raw))
    secret = json.loads(kube_api.kubectl("get", "secret", "legacy", "-n", namespace, "-o", "json").stdout)
    kube_api.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
        "metadata": {"name": "legacy",  # as versions before the API review wrote mirrors: label + owner + spec ref
                     "labels": {"app.kubernetes.io/managed-by": "causely-incidentio",
                                "notifications.causely.ai/source": "Secret"},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Secret", "name": "legacy",
                                                             "uid": secret["metadata"]["uid"], "controller": True}]},
        "spec": {"causelySecretRef": {"name": "legacy"}},
    }))
    kube_api.kubectl("patch", "incidentdestination", "legacy", "-n", namespace, "--subresource=status",
                     "--type=merge", "-p", json.dumps({"status": {
                         "pending": {key: value}, "incidents": {open_oid: codec.encode_record(record)}}}),
                     check=False)
    status = (json.loads(kube_api.kubectl("get", "incidentdestination", "legacy", "-n", namespace, "-o",
                                          "json").stdout).get("status") or {})
    if "pending" not in status:  # kubectl 1.20 has no --subresource: write it through the API directly
        _patch_status(kube_api, namespace,
                      {"pending": {key: value}, "incidents": {open_oid: codec.encode_record(record)}})
    ops = [OperatorProcess(kube_api, namespace, sim.base_url, tmp_path, identity=f"upgrade-{i}").start()
           for i in range(2)]
    try:
        wait_for(lambda: incidents_by_object(sim).get(pending_oid), "the carried-over notification delivered")
        assert ops[0].post(detected(open_oid, "Low", "2026-11-26T12:00:00Z", type="ProblemCleared")).status_code == 202
        wait_for(lambda: incidents_by_object(sim)[open_oid][0]["incident_status"]["name"] == "Resolved",
                 "the carried-over incident resolved")
        status = wait_for(lambda: (ops[0].get("incidentdestination", "legacy") or {}).get("status") or None,
                          "status")
        wait_for(lambda: "pending" not in ((ops[0].get("incidentdestination", "legacy") or {}).get("status") or {}),
                 "the old maps removed")
        # the API review removed spec.causelySecretRef: the operator takes the old mirror over and removes it
        wait_for(lambda: (ops[0].get("incidentdestination", "legacy") or {}).get("spec") == {},
                 "spec.causelySecretRef removed from the old mirror")
    finally:
        for op in ops:
            op.stop()
    incidents = incidents_by_object(sim)
    assert len(incidents[open_oid]) == 1 and len(incidents[pending_oid]) == 1
    assert {f["spec"]["objectId"] for f in findings(kube_api, namespace)} == {open_oid, pending_oid}
    assert status is not None


def _patch_status(kube: KubeAPIServer, namespace: str, status: dict[str, Any]) -> None:
    url = (f"{kube.server_url}/apis/notifications.causely.ai/v1alpha1/namespaces/{namespace}"
           "/incidentdestinations/legacy/status")
    r = httpx.patch(url, content=json.dumps({"status": status}), verify=str(kube.ca_file),
                    headers={"Authorization": f"Bearer {kube.admin_token}",
                             "Content-Type": "application/merge-patch+json"})
    r.raise_for_status()
