"""The operator as it runs in a cluster: real API server, real processes, the simulator as incident.io."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from causely_docs import detected
from kubeapi import KubeAPIServer
from operator_harness import (
    API_TOKEN,
    RECEIVER_TOKEN,
    ROTATED_TOKEN,
    OperatorProcess,
    SimulatorProcess,
    causely_secret,
    wait_for,
)

from causely_incidentio.simulator import fingerprint


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    s = SimulatorProcess(tmp_path_factory.mktemp("sim"), [API_TOKEN, ROTATED_TOKEN])
    yield s
    s.stop()


@pytest.fixture
def operator(kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, sim: SimulatorProcess,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    op = OperatorProcess(kube_api, namespace, sim.base_url, tmp_path).start()
    yield op
    op.stop()
    assert API_TOKEN not in op.output() and ROTATED_TOKEN not in op.output() and RECEIVER_TOKEN not in op.output()


def token_secret(name: str, token: str = API_TOKEN, *, opted_in: bool = True) -> dict[str, object]:
    """An API-key Secret; ``opted_in`` adds the label a tokenSecretRef needs."""
    labels = {"notifications.causely.ai/incident-io-token": "true"} if opted_in else {}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": labels},
            "stringData": {"token": token}}


def incidents_for(sim: SimulatorProcess, object_id: str) -> list[dict[str, object]]:
    return [i for i in sim.incidents() if object_id in str(i.get("summary"))]


def test_labelled_secret_is_mirrored_and_drives_the_whole_lifecycle(
    operator: OperatorProcess, sim: SimulatorProcess, kube_api: KubeAPIServer
) -> None:
    op = operator
    op.apply(causely_secret("incidentio-notification-config"))
    before = op.get("secret", "incidentio-notification-config")
    assert before is not None
    ready = op.wait_condition("incidentio-notification-config", "Ready", "True")
    assert ready["reason"] == "Ready" and "observedGeneration" in ready
    mirror = op.get("incidentdestination", "incidentio-notification-config")
    assert mirror is not None
    (owner,) = mirror["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Secret", "incidentio-notification-config",
                                                            before["metadata"]["uid"])
    assert mirror["status"]["source"] == "Secret"
    # nothing controller-written in spec: the owner reference and the label say which Secret it mirrors
    assert mirror["spec"] == {}
    assert mirror["metadata"]["labels"]["notifications.causely.ai/source"] == "Secret"
    assert mirror["status"]["global"] is False  # notif_config_global, shown as documented

    oid = str(uuid.uuid4())
    r = op.post(detected(oid, "High", "2026-11-26T10:00:00Z"))
    assert r.status_code == 202, r.text
    assert r.json()["destinations"] == [f"secret/{op.namespace}/incidentio-notification-config"]
    wait_for(lambda: len(incidents_for(sim, oid)) == 1, "the incident")
    assert op.post(detected(oid, "High", "2026-11-26T10:00:00Z")).status_code == 202  # duplicate
    op.post(detected(oid, "Critical", "2026-11-26T10:05:00Z", type="ProblemUpdated", old_severity="High"))
    op.post(detected(oid, "Low", "2026-11-26T10:30:00Z", type="ProblemCleared"))

    def resolved_in_status() -> dict[str, object] | None:
        obj = op.get("incidentdestination", "incidentio-notification-config") or {}
        status = obj.get("status") or {}
        counters = status.get("counters") or {}
        return status if counters.get("resolved") == 1 and status.get("pendingFindings") == 0 else None

    status = wait_for(resolved_in_status, "the resolve recorded in status")
    (inc,) = incidents_for(sim, oid)
    assert inc["incident_status"]["name"] == "Resolved"  # type: ignore[index]
    assert inc["severity"]["name"] == "Critical"  # type: ignore[index]
    assert status["counters"]["created"] == 1 and status["counters"]["updated"] == 1  # type: ignore[index]
    assert status["openIncidents"] == 0 and status["findings"] == 1
    assert "pending" not in status and "incidents" not in status  # the journal lives in Findings now

    # The finding is a Finding: spec is what Causely last said, status what exists in incident.io.
    (finding,) = json.loads(kube_api.kubectl(
        "get", "findings", "-n", op.namespace, "-o", "json",
        "-l", "notifications.causely.ai/destination=incidentio-notification-config,"
              "notifications.causely.ai/state=resolved").stdout)["items"]
    assert finding["spec"]["objectId"] == oid and finding["spec"]["notification"]["type"] == "ProblemCleared"
    assert finding["spec"]["destination"] == f"secret/{op.namespace}/incidentio-notification-config"
    assert finding["status"]["reference"] == inc["reference"] and finding["status"]["state"] == "resolved"
    assert finding["status"]["observedGeneration"] == finding["metadata"]["generation"]
    table = kube_api.kubectl("get", "findings", "-n", op.namespace, "-o", "wide").stdout
    for col in ("DESTINATION", "SEVERITY", "LAST", "STATE", "INCIDENT", "AGE", "OBJECT ID", "OCCURRENCE"):
        assert col in table.splitlines()[0]
    assert inc["reference"] in table and "resolved" in table

    # `kubectl describe finding` shows what happened to it.
    reasons = {e["reason"] for e in op.events()
               if e["involvedObject"].get("kind") == "Finding"
               and e["involvedObject"].get("name") == finding["metadata"]["name"]}
    assert {"IncidentCreated", "IncidentUpdated", "IncidentResolved"} <= reasons
    described = kube_api.kubectl("describe", "finding", finding["metadata"]["name"], "-n", op.namespace).stdout
    assert "IncidentResolved" in described

    table = kube_api.kubectl("get", "incidentdestinations", "-n", op.namespace, "-o", "wide").stdout
    header, row = table.splitlines()[:2]
    for col in ("READY", "REASON", "PENDING", "FAILED", "OPEN", "SOURCE", "AGE", "CREATED", "RESOLVED", "MODE",
                "LAST SYNC", "MESSAGE"):
        assert col in header
    cells = row.split()
    assert cells[:7] == ["incidentio-notification-config", "True", "Ready", "0", "0", "0", "Secret"]
    assert cells[8:11] == ["1", "1", "standard"] and row.endswith("Delivering notifications")
    narrow = kube_api.kubectl("get", "incidentdestinations", "-n", op.namespace).stdout.splitlines()[0]
    assert "PENDING" in narrow and "FAILED" in narrow and "MESSAGE" not in narrow

    # The Secret was only read: no annotation, finalizer or write of any kind.
    after = op.get("secret", "incidentio-notification-config")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"].get("annotations") == before["metadata"].get("annotations")
    assert not after["metadata"].get("finalizers")

    # Token rotation: the next call uses the new token, no restart.
    op.kube.kubectl("patch", "secret", "incidentio-notification-config", "-n", op.namespace, "--type=merge",
                    "-p", json.dumps({"stringData": {"notif_config_token": ROTATED_TOKEN}}))
    second = str(uuid.uuid4())
    wait_for(lambda: op.post(detected(second, "Critical")).status_code == 202, "202")
    wait_for(lambda: len(incidents_for(sim, second)) == 1, "an incident with the rotated token")
    creates = [q for q in sim.requests() if q["method"] == "POST" and q["path"] == "/v2/incidents"
               and second in json.dumps(q.get("body"))]
    assert creates and {q["token_fingerprint"] for q in creates} == {fingerprint(ROTATED_TOKEN)}

    # Nothing anywhere in the namespace carries a token value.
    dump = kube_api.kubectl("get", "incidentdestinations,findings,events", "-n", op.namespace, "-o", "json").stdout
    for token in (API_TOKEN, ROTATED_TOKEN, RECEIVER_TOKEN):
        assert token not in dump
        assert base64.b64encode(token.encode()).decode() not in dump

    # Deleting the Secret removes the mirror.
    op.kube.kubectl("delete", "secret", "incidentio-notification-config", "-n", op.namespace)
    wait_for(lambda: op.get("incidentdestination", "incidentio-notification-config") is None, "mirror removed")


def test_invalid_destinations_are_reported_precisely_and_isolated(
    operator: OperatorProcess, sim: SimulatorProcess
) -> None:
    op = operator
    op.apply(causely_secret("bad-filters", notif_config_filters='[{"field": "severity", "operator": "like"'))
    op.apply(causely_secret("no-token", token=""))
    op.apply({"apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
              "metadata": {"name": "missing-token-secret"},
              "spec": {"tokenSecretRef": {"name": "does-not-exist", "key": "token"}}})
    op.apply(token_secret("good-token"))
    op.apply({"apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
              "metadata": {"name": "good"},
              "spec": {"tokenSecretRef": {"name": "good-token", "key": "token"}, "resolvedStatusName": "Fixed",
                       "severityMap": {"High": "Critical"}}})

    bad = op.wait_condition("bad-filters", "ConfigValid", "False")
    assert "notif_config_filters" in bad["message"]
    no_token = op.wait_condition("no-token", "ConfigValid", "False")
    assert "notif_config_token" in no_token["message"]
    missing = op.wait_condition("missing-token-secret", "ConfigValid", "False")
    assert "does-not-exist" in missing["message"] and "tokenSecretRef" in missing["message"]
    assert op.condition("missing-token-secret", "Ready")["status"] == "False"  # type: ignore[index]

    op.wait_condition("good", "Ready", "True")
    oid = str(uuid.uuid4())
    assert op.post(detected(oid, "High")).json()["destinations"] == [f"incidentdestination/{op.namespace}/good"]
    wait_for(lambda: len(incidents_for(sim, oid)) == 1, "the good destination's incident")
    (inc,) = incidents_for(sim, oid)
    assert inc["severity"]["name"] == "Critical"  # type: ignore[index]

    warnings = {e["reason"] for e in op.events() if e["type"] == "Warning"}
    assert "InvalidConfig" in warnings

    # Fixing the resource fixes the destination, without a restart.
    op.apply(token_secret("does-not-exist"))
    op.wait_condition("missing-token-secret", "Ready", "True")


def test_kill_9_and_restart_completes_pending_actions_without_duplicates(
    operator: OperatorProcess, sim: SimulatorProcess
) -> None:
    op = operator
    op.apply(causely_secret("crashy"))
    op.wait_condition("crashy", "Ready", "True")
    sim.control("faults", {"latency_ms": 300})
    try:
        ids = [str(uuid.uuid4()) for _ in range(20)]
        for oid in ids:
            assert op.post(detected(oid, "Critical")).status_code == 202
        op.kill9()
        done_before = sum(1 for oid in ids if incidents_for(sim, oid))
        assert done_before < len(ids)
        op.start()
        wait_for(lambda: all(incidents_for(sim, oid) for oid in ids), "every incident", timeout=120)
        time.sleep(1.0)
    finally:
        sim.control("faults", {"latency_ms": 0})
    for oid in ids:
        assert len(incidents_for(sim, oid)) == 1, oid

    def settled() -> dict[str, object] | None:
        status = (op.get("incidentdestination", "crashy") or {}).get("status") or {}
        return status if status.get("pendingFindings") == 0 and status.get("openIncidents") == len(ids) else None

    status = wait_for(settled, "status with no pending findings")
    assert status["findings"] == len(ids)
    findings = json.loads(op.kube.kubectl("get", "findings", "-n", op.namespace, "-o", "json",
                                          "-l", "notifications.causely.ai/destination=crashy").stdout)["items"]
    assert {f["spec"]["objectId"] for f in findings} == set(ids)
    assert {f["status"]["state"] for f in findings} == {"open"}


def _manifest_rbac(namespace: str) -> str:
    """The manifests' own ServiceAccount and RBAC, moved into ``namespace`` (names made unique per test)."""
    import yaml

    root = Path(__file__).resolve().parents[2] / "manifests"
    docs = [*yaml.safe_load_all((root / "serviceaccount.yaml").read_text()),
            *yaml.safe_load_all((root / "rbac.yaml").read_text())]
    out = []
    for d in docs:
        if not d:
            continue
        meta = d["metadata"]
        if d["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            meta["name"] = f"{meta['name']}-{namespace}"
        else:
            meta["namespace"] = namespace
        if "roleRef" in d and d["roleRef"]["kind"] == "ClusterRole":
            d["roleRef"]["name"] = f"{d['roleRef']['name']}-{namespace}"
        for s in d.get("subjects", []):
            s["namespace"] = namespace
        out.append(d)
    return yaml.safe_dump_all(out)


def test_operator_works_under_the_manifests_least_privilege_rbac(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, sim: SimulatorProcess, tmp_path: Path
) -> None:
    kube_api.kubectl("apply", "-f", "-", input=_manifest_rbac(namespace))
    token = kube_api.kubectl("create", "token", "causely-incidentio", "-n", namespace).stdout.strip()
    kubeconfig = kube_api.kubeconfig_for_token(token, tmp_path / "sa.kubeconfig")

    # It cannot read Secrets outside its namespace.
    other = kube_api.kubectl("get", "secrets", "-n", "default", kubeconfig=kubeconfig, check=False)
    assert other.returncode != 0 and "forbidden" in other.stderr.lower()

    # Two replicas, as the Deployment runs them: both receive, one holds the Lease and reconciles.
    op = OperatorProcess(kube_api, namespace, sim.base_url, tmp_path, kubeconfig=kubeconfig).start()
    op2 = OperatorProcess(kube_api, namespace, sim.base_url, tmp_path, kubeconfig=kubeconfig).start()
    try:
        op.apply(causely_secret("rbac-dest"))
        op.wait_condition("rbac-dest", "Ready", "True")
        oids = [str(uuid.uuid4()) for _ in range(4)]
        for i, oid in enumerate(oids):
            assert (op if i % 2 else op2).post(detected(oid, "Critical")).status_code == 202
        for oid in oids:
            wait_for(lambda oid=oid: len(incidents_for(sim, oid)) == 1, "the incident")
        wait_for(lambda: any(e["reason"] == "IncidentCreated" for e in op.events()), "an IncidentCreated Event")
        # No API call was refused (match the refusal itself: "403" alone also occurs inside UIDs).
        for replica in (op, op2):
            refusals = re.findall(r"APIForbiddenError|\bForbidden\b|(?:status|code)[=:\s\"']+403\b|HTTP 403",
                                  replica.output())
            assert refusals == []
    finally:
        op2.stop()
        op.stop()


def test_environment_variables_define_a_default_destination(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, sim: SimulatorProcess, tmp_path: Path
) -> None:
    kube_api.kubectl("create", "secret", "generic", "causely-incidentio-env", "-n", namespace,
                     f"--from-literal=api_token={API_TOKEN}", "--from-literal=resolved_status_name=Fixed")
    kube_api.kubectl("label", "secret", "causely-incidentio-env", "-n", namespace,
                     "notifications.causely.ai/incident-io-token=true")  # as docs/kubernetes.md says
    env = {"INCIDENT_IO_API_TOKEN": API_TOKEN, "INCIDENT_IO_RESOLVED_STATUS_NAME": "Fixed"}
    op = OperatorProcess(kube_api, namespace, sim.base_url, tmp_path, extra_env=env).start()
    try:
        op.wait_condition("incidentio-env", "Ready", "True")
        obj = op.get("incidentdestination", "incidentio-env")
        assert obj is not None
        # only the token reference: every other setting falls back to the same INCIDENT_IO_* variables
        assert obj["spec"] == {"tokenSecretRef": {"name": "causely-incidentio-env", "key": "api_token"}}
        assert API_TOKEN not in json.dumps(obj)
        oid = str(uuid.uuid4())
        assert op.post(detected(oid, "High")).json()["destinations"] == [
            f"incidentdestination/{namespace}/incidentio-env"]
        r = op.post(detected(oid, "High", "2026-11-26T11:00:00Z", type="ProblemCleared"))
        assert r.status_code == 202 and r.json()["destinations"] == [
            f"incidentdestination/{namespace}/incidentio-env"], r.text
        wait_for(lambda: [i["incident_status"]["name"] for i in incidents_for(sim, oid)] == ["Fixed"],
                 "the incident resolved to Fixed (post-incident)")
    finally:
        op.stop()
    assert API_TOKEN not in op.output()


def test_the_default_destination_reads_a_token_secret_of_any_name(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, sim: SimulatorProcess, tmp_path: Path
) -> None:
    """A token Secret made by a secrets manager under its own name and key (the chart's existingSecret)."""
    kube_api.kubectl("create", "secret", "generic", "incident-io-api-key", "-n", namespace,
                     f"--from-literal=token={API_TOKEN}")
    kube_api.kubectl("label", "secret", "incident-io-api-key", "-n", namespace,
                     "notifications.causely.ai/incident-io-token=true")
    env = {"INCIDENT_IO_API_TOKEN": API_TOKEN, "INCIDENT_IO_API_TOKEN_SECRET_NAME": "incident-io-api-key",
           "INCIDENT_IO_API_TOKEN_SECRET_KEY": "token"}
    op = OperatorProcess(kube_api, namespace, sim.base_url, tmp_path, extra_env=env).start()
    try:
        op.wait_condition("incidentio-env", "Ready", "True")
        obj = op.get("incidentdestination", "incidentio-env")
        assert obj is not None
        assert obj["spec"] == {"tokenSecretRef": {"name": "incident-io-api-key", "key": "token"}}
        oid = str(uuid.uuid4())
        assert op.post(detected(oid, "High")).json()["destinations"] == [
            f"incidentdestination/{namespace}/incidentio-env"]
        wait_for(lambda: len(incidents_for(sim, oid)) == 1, "the incident, sent with the token from that Secret")
    finally:
        op.stop()
    assert API_TOKEN not in op.output()


def test_deleting_a_destination_stops_its_deliveries_and_leaves_its_incidents(
    operator: OperatorProcess, sim: SimulatorProcess
) -> None:
    op = operator
    op.apply(token_secret("key"))
    op.apply({"apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
              "metadata": {"name": "short-lived"},
              "spec": {"tokenSecretRef": {"name": "key"}, "resolvedStatusName": "Resolved"}})
    op.wait_condition("short-lived", "Ready", "True")
    oid = str(uuid.uuid4())
    op.post(detected(oid, "Critical"))
    wait_for(lambda: len(incidents_for(sim, oid)) == 1, "the incident")
    op.kube.kubectl("delete", "incidentdestination", "short-lived", "-n", op.namespace)
    wait_for(lambda: op.post(detected(str(uuid.uuid4()), "Critical")).json()["destinations"] == [],
             "no destination left to route to")
    op.post(detected(oid, "Critical", "2026-11-26T12:00:00Z", type="ProblemCleared"))
    time.sleep(1.0)
    (inc,) = incidents_for(sim, oid)
    assert inc["incident_status"]["category"] == "live"  # type: ignore[index]  # left for humans


def test_mirrors_never_touch_a_users_own_resource_and_come_back_if_deleted(
    operator: OperatorProcess, sim: SimulatorProcess
) -> None:
    op = operator
    op.apply(token_secret("key"))
    op.apply({"apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
              "metadata": {"name": "prod"}, "spec": {"tokenSecretRef": {"name": "key"}}})
    op.wait_condition("prod", "Ready", "True")
    # A labelled Secret with the same name cannot take over the user's resource...
    op.apply(causely_secret("prod"))
    wait_for(lambda: any(e["reason"] == "InvalidConfig" and e["involvedObject"]["kind"] == "Secret"
                         for e in op.events()), "an InvalidConfig Event on the Secret")
    # ...and deleting that Secret does not delete the user's resource.
    op.kube.kubectl("delete", "secret", "prod", "-n", op.namespace)
    time.sleep(1.0)
    assert op.get("incidentdestination", "prod") is not None

    # causelySecretRef (removed from the API) written by hand is refused precisely, not silently pruned.
    op.apply({"apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
              "metadata": {"name": "forged"}, "spec": {"causelySecretRef": {"name": "key"}}})
    forged = op.wait_condition("forged", "ConfigValid", "False")
    assert "spec.causelySecretRef: was removed" in forged["message"]

    # A mirror deleted by hand while its Secret is still labelled comes back.
    op.apply(causely_secret("mirrored"))
    op.wait_condition("mirrored", "Ready", "True")
    op.kube.kubectl("delete", "incidentdestination", "mirrored", "-n", op.namespace)
    op.wait_condition("mirrored", "Ready", "True")


def test_all_namespaces_mode_serves_destinations_anywhere(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, sim: SimulatorProcess, tmp_path: Path
) -> None:
    other = f"{namespace}-b"
    kube_api.kubectl("create", "namespace", other)
    try:
        op = OperatorProcess(kube_api, namespace, sim.base_url, tmp_path, all_namespaces=True,
                             extra_env={"POD_NAMESPACE": namespace}).start()
        try:
            op.apply(causely_secret("here"))
            kube_api.kubectl("apply", "-n", other, "-f", "-", input=json.dumps(causely_secret("there")))
            op.wait_condition("here", "Ready", "True")
            there = OperatorProcess(kube_api, other, sim.base_url, tmp_path)  # only to read the other namespace
            there.wait_condition("there", "Ready", "True")
            oid = str(uuid.uuid4())
            routed = op.post(detected(oid, "Critical")).json()["destinations"]
            # Other tests' namespaces may still be terminating with their own destinations: the whole
            # cluster is watched, so check ours are among those served.
            assert {f"secret/{namespace}/here", f"secret/{other}/there"} <= set(routed)

            def recorded(reader: OperatorProcess, name: str) -> bool:
                found = json.loads(kube_api.kubectl(
                    "get", "findings", "-n", reader.namespace, "-o", "json",
                    "-l", f"notifications.causely.ai/destination={name}").stdout)["items"]
                return any(f["spec"]["objectId"] == oid and (f.get("status") or {}).get("state") == "open"
                           for f in found)

            wait_for(lambda: recorded(op, "here") and recorded(there, "there"), "an incident in each namespace")
        finally:
            op.stop()
    finally:
        kube_api.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_no_confused_deputy_unlabelled_secrets_and_unlisted_urls_are_refused(
    operator: OperatorProcess, sim: SimulatorProcess
) -> None:
    """Issue 8.11: a destination cannot send any Secret of its namespace, nor send a key to any server."""
    op = operator
    op.apply(token_secret("db-password", token="hunter2-not-an-api-key", opted_in=False))
    op.apply({"apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
              "metadata": {"name": "deputy"}, "spec": {"tokenSecretRef": {"name": "db-password"}}})
    refused = op.wait_condition("deputy", "ConfigValid", "False")
    assert "has not opted in" in refused["message"]
    assert "notifications.causely.ai/incident-io-token" in refused["message"]

    op.apply(token_secret("key"))
    op.apply({"apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
              "metadata": {"name": "elsewhere"},
              "spec": {"tokenSecretRef": {"name": "key"}, "apiURL": "https://collector.example"}})
    elsewhere = op.wait_condition("elsewhere", "ConfigValid", "False")
    assert "is not an allowed incident.io API URL" in elsewhere["message"]
    assert sim.base_url in elsewhere["message"]  # the installer's list, so the fix is obvious
    time.sleep(1.0)
    sent = [q for q in sim.requests() if q.get("token_fingerprint") == fingerprint("hunter2-not-an-api-key")]
    assert sent == []

    # Labelling the Secret (the owner's decision) makes the same destination work, without a restart.
    op.kube.kubectl("label", "secret", "db-password", "-n", op.namespace,
                    "notifications.causely.ai/incident-io-token=true")
    op.kube.kubectl("patch", "secret", "db-password", "-n", op.namespace, "--type=merge",
                    "-p", json.dumps({"stringData": {"token": API_TOKEN}}))
    op.wait_condition("deputy", "Ready", "True", timeout=90)

    # Removing the label alone (the value unchanged) withdraws the opt-in at the next token refresh.
    op.kube.kubectl("label", "secret", "db-password", "-n", op.namespace,
                    "notifications.causely.ai/incident-io-token-")
    withdrawn = op.wait_condition("deputy", "ConfigValid", "False", timeout=60)
    assert "has not opted in" in withdrawn["message"]
