"""The CRD, the kustomize base and the examples, checked on a real Kubernetes 1.20 API server.

The file-level checks (the CRD copy, descriptions, hardening, RBAC comments) need no server; the rest
applies the real files and looks at what the server and kubectl make of them.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_tools
import pytest
import yaml
from kubeapi import KubeAPIServer, KubectlError

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "incidentdestinations.yaml"
FINDINGS_CRD_FILE = ROOT / "crds" / "findings.yaml"
MANIFESTS = ROOT / "manifests"
EXAMPLES = MANIFESTS / "examples"
GROUP = "notifications.causely.ai"

Doc = dict[str, Any]


# ---- helpers ------------------------------------------------------------------------------------------


def load_all(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


def crd_doc() -> Doc:
    (doc,) = load_all(CRD_FILE.read_text())
    return doc


def crd_schema() -> Doc:
    schema: Doc = crd_doc()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def findings_crd_doc() -> Doc:
    (doc,) = load_all(FINDINGS_CRD_FILE.read_text())
    return doc


def findings_schema() -> Doc:
    schema: Doc = findings_crd_doc()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def in_namespace(docs: list[Doc], namespace: str) -> list[Doc]:
    """Copies of ``docs`` moved to ``namespace`` (the examples and the base say `causely`)."""
    moved = copy.deepcopy(docs)
    for doc in moved:
        if doc["kind"] in {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}:
            continue
        doc["metadata"]["namespace"] = namespace
    for doc in moved:
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespace
    return moved


def apply(kube: KubeAPIServer, docs: list[Doc], *extra: str, kubeconfig: Path | None = None) -> str:
    result = kube.kubectl("apply", *extra, "-f", "-", input=yaml.safe_dump_all(docs), kubeconfig=kubeconfig)
    return result.stdout


def get_json(kube: KubeAPIServer, *args: str) -> Doc:
    obj: Doc = json.loads(kube.kubectl("get", *args, "-o", "json").stdout)
    return obj


def rendered_base(kube: KubeAPIServer) -> list[Doc]:
    """The base as the pinned kubectl 1.34 renders it (``make helm``): the kustomize of Debian's kubectl 1.20,
    which ``make k8s`` may install, predates the base's ``labels:`` field."""
    return helm_tools.kustomize(MANIFESTS)


def table(output: str) -> list[dict[str, str]]:
    """Parse kubectl's table output; columns are separated by two or more spaces (headers may hold one)."""
    header, *rows = output.strip().splitlines()
    names = re.split(r"\s{2,}", header.strip())
    starts = [header.index(name) for name in names]
    parsed = []
    for row in rows:
        cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        parsed.append(dict(zip(names, cells, strict=True)))
    return parsed


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def minimal_destination(name: str, namespace: str) -> Doc:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "IncidentDestination",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"tokenSecretRef": {"name": "incidentio-api-key"}},
    }


@pytest.fixture
def other_namespace(kube_api: KubeAPIServer, namespace: str) -> Iterator[str]:
    name = f"{namespace}-other"
    kube_api.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kube_api.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


# ---- the files themselves -----------------------------------------------------------------------------


def test_manifests_crd_is_a_byte_copy_of_the_crd() -> None:
    """kustomize cannot load ../crds, so manifests/ carries a copy; it must never drift."""
    assert (MANIFESTS / "crd.yaml").read_bytes() == CRD_FILE.read_bytes(), (
        "manifests/crd.yaml differs: cp crds/incidentdestinations.yaml manifests/crd.yaml"
    )
    assert (MANIFESTS / "crd-findings.yaml").read_bytes() == FINDINGS_CRD_FILE.read_bytes(), (
        "manifests/crd-findings.yaml differs: cp crds/findings.yaml manifests/crd-findings.yaml"
    )


def _walk(schema: Doc, path: str) -> Iterator[tuple[str, Doc]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize(("kind", "schema", "least"), [
    ("IncidentDestination", crd_schema, 50), ("Finding", findings_schema, 35),
])
def test_every_schema_field_has_a_type_and_a_description(kind: str, schema: Any, least: int) -> None:
    """kubectl explain is the user's manual: no field may be left undocumented or untyped."""
    nodes = [(p, n) for p, n in _walk(schema(), kind) if p != f"{kind}.metadata"]
    assert len(nodes) > least  # the walk really reached the leaves
    assert [p for p, n in nodes if not n.get("description", "").strip()] == []
    assert [p for p, n in nodes if "type" not in n] == []


def test_findings_crd_names_columns_and_subresource() -> None:
    crd = findings_crd_doc()["spec"]
    assert crd["names"]["kind"] == "Finding" and crd["names"]["categories"] == ["causely"]
    assert crd["scope"] == "Namespaced"
    (version,) = crd["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = {c["name"]: c.get("priority", 0) for c in version["additionalPrinterColumns"]}
    assert columns == {"Destination": 0, "Severity": 0, "Last": 0, "State": 0, "Incident": 0, "Age": 0,
                       "Object ID": 1, "Occurrence": 1, "Error": 1}
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["notification"]["properties"]["timestamp"]["type"] == "string"  # ns fit no int53


DEPRECATED_FIELDS = {"incidentTypeId", "severityId", "apiUrl", "causelySecretRef"}


def test_schema_enums_cased_as_kubernetes_and_no_defaults_that_hide_the_environment() -> None:
    spec = crd_schema()["properties"]["spec"]["properties"]
    assert spec["minSeverity"]["enum"] == ["Critical", "High", "Medium", "Low"]
    assert spec["mode"]["enum"] == ["Standard", "Test"]
    assert spec["visibility"]["enum"] == ["Public", "Private"]
    assert spec["severityRule"]["enum"] == ["Critical", "Mapped"]
    assert spec["filters"]["items"]["properties"]["operator"]["enum"] == ["Equals", "NotEquals", "In", "NotIn"]
    # Absence means "INCIDENT_IO_*, then the built-in default": a schema default would fill every object in
    # and silently disable the environment's fallback. Only tokenSecretRef.key (no variable) has one.
    defaults = [p for p, node in _walk(crd_schema()["properties"]["spec"], "spec") if "default" in node]
    assert defaults == ["spec.tokenSecretRef.key"]
    assert spec["tokenSecretRef"]["properties"]["key"]["default"] == "token"
    for old in DEPRECATED_FIELDS:  # kept so that they are rejected, not silently pruned
        assert old in spec
    status = crd_schema()["properties"]["status"]["properties"]
    assert "overflow" not in status
    for atomic in ("incidents", "pending"):  # kept (deprecated) so 0.1's journal stays readable for the upgrade
        assert status[atomic]["x-kubernetes-map-type"] == "atomic"
        assert status[atomic]["description"].startswith("Deprecated")
    for summary in ("findings", "pendingFindings", "failedFindings", "openIncidents"):
        assert status[summary]["type"] == "integer"
    assert status["global"]["type"] == "boolean"
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]
    condition = status["conditions"]["items"]
    assert condition["required"] == ["type", "status", "lastTransitionTime", "reason", "message"]
    assert condition["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert condition["properties"]["reason"]["pattern"] == "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    assert condition["properties"]["message"]["maxLength"] == 32768


def test_every_rule_has_a_message_naming_the_field() -> None:
    rules = [(p, r) for p, node in _walk(crd_schema(), "") for r in node.get("x-kubernetes-validations", [])]
    assert len(rules) >= 10
    for path, rule in rules:
        assert rule["message"].strip() and ("spec." in rule["message"] or "filter" in rule["message"]), path


def test_example_destination_uses_every_spec_field_but_the_exclusive_one() -> None:
    (destination,) = by_kind(load_all((EXAMPLES / "incidentdestination.yaml").read_text()), "IncidentDestination")
    fields = set(crd_schema()["properties"]["spec"]["properties"])
    assert set(destination["spec"]) == fields - DEPRECATED_FIELDS


def test_every_rbac_rule_says_what_it_is_for() -> None:
    lines = (MANIFESTS / "rbac.yaml").read_text().splitlines()
    rule_lines = [i for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert len(rule_lines) == 7  # secrets, incidentdestinations, their status, findings, their status, leases, events
    assert [lines[i] for i in rule_lines if not lines[i - 1].strip().startswith("#")] == []


# ---- the CRD on the server ----------------------------------------------------------------------------


def test_crd_is_established_with_names_and_categories(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str
) -> None:
    crd = get_json(kube_api, "crd", incidentdestination_crd)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert crd["status"]["acceptedNames"]["shortNames"] == ["incdest"]
    assert crd["status"]["acceptedNames"]["categories"] == ["causely"]

    apply(kube_api, [minimal_destination("reachable", namespace)])
    for alias in ("incidentdestinations", "incidentdestination", "incdest", "causely"):
        out = kube_api.kubectl("get", alias, "-n", namespace, "-o", "name").stdout
        assert out.strip() == f"incidentdestination.{GROUP}/reachable", alias


def test_kubectl_explain_shows_the_descriptions(kube_api: KubeAPIServer, incidentdestination_crd: str) -> None:
    out = kube_api.kubectl("explain", "incidentdestination.spec").stdout
    for field in ("tokenSecretRef", "minSeverity", "filters", "apiURL", "incidentTypeID", "severityID",
                  "severityMap", "severityRule"):
        assert field in out
    assert "Least severe Causely finding that opens an incident" in out
    assert "falls back to the operator's INCIDENT_IO_* setting" in " ".join(out.split())  # explain wraps lines

    out = kube_api.kubectl("explain", "incidentdestination.status.conditions").stdout
    assert "Current state as conditions" in out
    assert "observedGeneration" in out


def test_server_fills_in_nothing_the_environment_should_decide(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str
) -> None:
    apply(kube_api, [minimal_destination("defaults", namespace)])
    spec = get_json(kube_api, "incdest", "defaults", "-n", namespace)["spec"]
    assert spec == {"tokenSecretRef": {"name": "incidentio-api-key", "key": "token"}}


def test_renamed_fields_are_kept_not_pruned_so_the_operator_can_reject_them(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str
) -> None:
    """1.20 runs no CEL: the old names must survive the structural schema to reach the operator's check."""
    doc = minimal_destination("old-names", namespace)
    doc["spec"].update({"incidentTypeId": "01T", "severityId": "01S", "apiUrl": "https://api.incident.io"})
    apply(kube_api, [doc])
    spec = get_json(kube_api, "incdest", "old-names", "-n", namespace)["spec"]
    assert {k: spec[k] for k in ("incidentTypeId", "severityId", "apiUrl")} == {
        "incidentTypeId": "01T", "severityId": "01S", "apiUrl": "https://api.incident.io"}


def test_the_1_20_server_accepts_the_crd_with_its_cel_rules(
    kube_api: KubeAPIServer, incidentdestination_crd: str
) -> None:
    """x-kubernetes-validations is unknown to 1.20: its server accepts the CRD and ignores the rules, but
    kubectl's client-side validation (against that server's OpenAPI) refuses the field — so on clusters
    before 1.23, apply the CRD with --validate=false (docs/kubernetes.md)."""
    crd = get_json(kube_api, "crd", incidentdestination_crd)
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    refused = kube_api.kubectl("apply", "--dry-run=server", "-f", str(CRD_FILE), check=False)
    assert refused.returncode != 0 and 'unknown field "x-kubernetes-validations"' in refused.stderr
    accepted = kube_api.kubectl("apply", "--dry-run=server", "--validate=false", "-f", str(CRD_FILE))
    assert "(server dry run)" in accepted.stdout


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"tokenSecretRef": {"name": "k"}, "minSeverity": "Urgent"}, "spec.minSeverity"),
        ({"tokenSecretRef": {"name": "k"}, "mode": "dry-run"}, "spec.mode"),
        ({"tokenSecretRef": {"name": "k"}, "mode": "standard"}, "spec.mode: Unsupported value"),
        ({"tokenSecretRef": {"key": "token"}}, "spec.tokenSecretRef.name: Required value"),
        ({"tokenSecretRef": {"name": "k"}, "filters": [{"field": "severity", "operator": "like"}]},
         "spec.filters.operator: Unsupported value"),
        ({"tokenSecretRef": {"name": "k"}, "filters": [{"operator": "In", "values": ["High"]}]},
         "spec.filters.field: Required value"),
        ({"tokenSecretRef": {"name": "k"}, "notifyChannel": "yes"}, "spec.notifyChannel"),
    ],
)
def test_server_rejects_invalid_specs_naming_the_field(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, spec: Doc, complaint: str
) -> None:
    doc = minimal_destination("invalid", namespace)
    doc["spec"] = spec
    with pytest.raises(KubectlError) as failure:
        apply(kube_api, [doc], "--validate=false")  # the server's verdict, not kubectl's client-side one
    assert complaint in failure.value.stderr


def test_empty_strings_are_strings(kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str) -> None:
    """Regression for the Go 1.19 build: stock 1.20 validators took every "" in a custom resource for null."""
    doc = minimal_destination("empty", namespace)
    doc["spec"].update({"severityID": "", "resolvedStatusName": ""})
    apply(kube_api, [doc])
    condition = {"type": "Ready", "status": "Unknown", "reason": "Starting", "message": "",
                 "lastTransitionTime": "2025-01-01T00:00:00Z"}
    kube_api.kubectl("patch", "incdest", "empty", "-n", namespace, "--type=merge", "--subresource=status",
                     "-p", json.dumps({"status": {"conditions": [condition], "message": ""}}))
    stored = get_json(kube_api, "incdest", "empty", "-n", namespace)
    assert stored["spec"]["severityID"] == "" and stored["spec"]["resolvedStatusName"] == ""
    assert stored["status"]["conditions"] == [condition]


def test_examples_apply_and_keep_every_field(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str
) -> None:
    docs = [d for f in sorted(EXAMPLES.glob("*.yaml")) for d in load_all(f.read_text())]
    assert {d["kind"] for d in docs} == {"Secret", "IncidentDestination"}
    apply(kube_api, in_namespace(docs, namespace))

    causely_secret = get_json(kube_api, "secret", "incidentio-notification-config", "-n", namespace)
    assert causely_secret["metadata"]["labels"] == {"causely.ai/notif-config": "IncidentIO"}
    (written,) = by_kind(docs, "IncidentDestination")
    stored = get_json(kube_api, "incdest", written["metadata"]["name"], "-n", namespace)
    assert stored["spec"] == written["spec"]  # nothing pruned: the schema knows every field


def test_status_subresource_and_printer_columns(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str
) -> None:
    doc = minimal_destination("columns", namespace)
    doc["spec"]["mode"] = "Test"
    apply(kube_api, [doc])
    status = {
        "observedGeneration": 1,
        "source": "IncidentDestination",
        "mode": "test",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Synced", "message": "ok",
             "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1},
            {"type": "ConfigValid", "status": "True", "reason": "Valid", "message": "",
             "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1},
        ],
        "counters": {"created": 5, "updated": 1, "resolved": 2, "skipped": 7, "failed": 0},
        "openIncidents": 3,
        "pendingFindings": 4,
        "failedFindings": 1,
        "lastSyncTime": "2025-01-01T00:00:00Z",
        "message": "3 open incidents",
    }
    # The main resource ignores status; only the status subresource writes it.
    kube_api.kubectl("patch", "incdest", "columns", "-n", namespace, "--type=merge",
                     "-p", json.dumps({"status": status}))
    assert "status" not in get_json(kube_api, "incdest", "columns", "-n", namespace)
    kube_api.kubectl("patch", "incdest", "columns", "-n", namespace, "--type=merge", "--subresource=status",
                     "-p", json.dumps({"status": status}))

    (row,) = table(kube_api.kubectl("get", "incdest", "columns", "-n", namespace).stdout)
    assert list(row) == ["NAME", "READY", "REASON", "PENDING", "FAILED", "OPEN", "SOURCE", "AGE"]
    assert row["READY"] == "True" and row["REASON"] == "Synced" and row["SOURCE"] == "IncidentDestination"
    assert (row["PENDING"], row["FAILED"], row["OPEN"]) == ("4", "1", "3")  # the backlog, by default

    (wide,) = table(kube_api.kubectl("get", "incdest", "columns", "-n", namespace, "-o", "wide").stdout)
    assert list(wide)[-5:] == ["CREATED", "RESOLVED", "MODE", "LAST SYNC", "MESSAGE"]
    assert (wide["CREATED"], wide["RESOLVED"]) == ("5", "2")
    assert re.fullmatch(r"\d+[smhdy]\w*", wide["LAST SYNC"])  # a date column shows an age
    assert wide["MODE"] == "test" and wide["MESSAGE"] == "ok"  # the Ready condition's message


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"reason": "not one word"}, "reason in body should match"),
        ({"reason": ""}, "reason"),
        ({"lastTransitionTime": None}, "lastTransitionTime: Required value"),
        ({"message": None}, "message: Required value"),
        ({"status": "Maybe"}, "status: Unsupported value"),
    ],
)
def test_conditions_follow_the_metav1_condition_schema(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, change: Doc, complaint: str
) -> None:
    apply(kube_api, [minimal_destination("conds", namespace)])
    condition = {"type": "Ready", "status": "True", "reason": "Ready", "message": "ok",
                 "lastTransitionTime": "2025-01-01T00:00:00Z"}
    condition.update(change)
    condition = {k: v for k, v in condition.items() if v is not None}
    failure = kube_api.kubectl("patch", "incdest", "conds", "-n", namespace, "--type=merge", "--subresource=status",
                               "-p", json.dumps({"status": {"conditions": [condition]}}), check=False)
    assert failure.returncode != 0 and complaint in failure.stderr, failure.stderr


def test_journal_maps_are_atomic_so_managed_fields_stay_small(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str
) -> None:
    """1.20 honours x-kubernetes-map-type: atomic — managedFields records the map, not every objectId."""
    apply(kube_api, [minimal_destination("journal", namespace)])
    journal = {f"object-{i}": f"open|inc-{i}" for i in range(20)}
    patch = {"status": {"incidents": journal, "pending": {"object-x": "p"}}}
    kube_api.kubectl("patch", "incdest", "journal", "-n", namespace, "--type=merge", "--subresource=status",
                     "-p", json.dumps(patch))
    obj = get_json(kube_api, "incdest", "journal", "-n", namespace, "--show-managed-fields")
    assert obj["status"]["incidents"] == journal
    (entry,) = [m for m in obj["metadata"]["managedFields"] if m.get("subresource") == "status"
                or "f:status" in m.get("fieldsV1", {})]
    status_fields = entry["fieldsV1"]["f:status"]
    for atomic in ("f:incidents", "f:pending"):
        assert status_fields[atomic] == {}
    assert "object-1" not in json.dumps(obj["metadata"]["managedFields"])


# ---- the kustomize base -------------------------------------------------------------------------------


def test_kustomize_renders_and_the_server_accepts_it(
    kube_api: KubeAPIServer, incidentdestination_crd: str
) -> None:
    docs = rendered_base(kube_api)
    # No Namespace on purpose: `causely` is Causely's own, and deleting the base must never delete it.
    assert {d["kind"] for d in docs} == {
        "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service",
        "PodDisruptionBudget",
    }
    assert by_kind(docs, "RoleBinding")[0]["subjects"][0]["namespace"] == "causely"
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "causely-incidentio", doc["kind"]
        if doc["kind"] not in {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}:
            assert doc["metadata"]["namespace"] == "causely", doc["kind"]
    assert sorted(by_kind(docs, "CustomResourceDefinition"), key=lambda d: d["metadata"]["name"]) == [
        findings_crd_doc(), crd_doc()]
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 1

    # A server-side dry run needs the namespace to exist; create just that (as docs/install.md says), then
    # dry-run everything. The PodDisruptionBudget is policy/v1, which 1.20 predates (it arrived in 1.21;
    # policy/v1beta1 is gone since 1.25): it is checked above and left out of this server's dry run.
    apply(kube_api, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "causely"}}])
    # The CRDs' CEL rules are unknown to kubectl 1.20's client-side validation (see
    # test_the_1_20_server_accepts_the_crd_with_its_cel_rules); everything else keeps that validation.
    apply(kube_api, by_kind(docs, "CustomResourceDefinition"), "--dry-run=server", "--validate=false")
    out = apply(kube_api, [d for d in docs if d["kind"] not in {"PodDisruptionBudget", "CustomResourceDefinition"}],
                "--dry-run=server")
    assert "deployment.apps/causely-incidentio created (server dry run)" in out
    assert "role.rbac.authorization.k8s.io/causely-incidentio created (server dry run)" in out


def test_deployment_is_hardened_and_wired(kube_api: KubeAPIServer) -> None:
    (deployment,) = by_kind(rendered_base(kube_api), "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2  # every replica receives; the Lease holder reconciles
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    anti = spec["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= 5 + 25  # shutdown delay + drain
    assert spec["selector"]["matchLabels"]["app.kubernetes.io/name"] == "causely-incidentio"
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "causely-incidentio"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["args"] == ["run", "--namespace", "$(POD_NAMESPACE)", "--listen", "0.0.0.0:8080"]
    security = container["securityContext"]
    assert security["runAsUser"] == 10001 and security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"] == {
        "requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}
    }
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8080, "health": 8081}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["emptyDir"]

    env = {e["name"]: e["valueFrom"] for e in container["env"]}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}  # the replica's Lease identity
    for name in ("INCIDENT_IO_API_TOKEN", "INCIDENT_IO_INCIDENT_TYPE_ID", "INCIDENT_IO_SEVERITY_ID",
                 "INCIDENT_IO_RESOLVED_STATUS_NAME", "INCIDENT_IO_NOTIFY_CHANNEL"):
        ref = env[name]["secretKeyRef"]
        assert ref["name"] == "causely-incidentio-env" and ref["optional"] is True, name
    assert env["CAUSELY_RECEIVER_TOKEN"] == {"secretKeyRef": {"name": "causely-incidentio-receiver", "key": "token"}}

    (service,) = by_kind(rendered_base(kube_api), "Service")
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()


def test_rbac_grants_its_namespace_only_and_secrets_read_only(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    """A token of the manifests' ServiceAccount, bound by the manifests' Role, used for real."""
    docs = rendered_base(kube_api)
    namespaced = [*by_kind(docs, "ServiceAccount"), *by_kind(docs, "Role"), *by_kind(docs, "RoleBinding")]
    apply(kube_api, in_namespace(namespaced, namespace))
    apply(kube_api, [minimal_destination("mine", namespace)])
    for ns in (namespace, other_namespace):
        kube_api.kubectl("create", "secret", "generic", "probe", "-n", ns, "--from-literal=token=x")

    token = kube_api.kubectl("create", "token", "causely-incidentio", "-n", namespace).stdout.strip()
    as_operator = kube_api.kubeconfig_for_token(token, tmp_path / "operator.kubeconfig")

    def run(*args: str) -> tuple[int, str]:
        result = kube_api.kubectl(*args, kubeconfig=as_operator, check=False)
        return result.returncode, result.stderr

    assert run("get", "secrets", "-n", namespace)[0] == 0
    assert run("get", "secret", "probe", "-n", namespace)[0] == 0
    code, err = run("get", "secrets", "-n", other_namespace)
    assert code != 0 and "forbidden" in err.lower()
    code, err = run("create", "secret", "generic", "written", "-n", namespace, "--from-literal=a=b")
    assert code != 0 and "forbidden" in err.lower()
    code, err = run("delete", "secret", "probe", "-n", namespace)
    assert code != 0 and "forbidden" in err.lower()

    assert run("get", "incdest", "-n", namespace)[0] == 0
    assert run("patch", "incdest", "mine", "-n", namespace, "--type=merge",
               "-p", '{"metadata": {"labels": {"x": "y"}}}')[0] == 0
    assert run("delete", "incdest", "mine", "-n", namespace, "--wait=false")[0] == 0
    code, err = run("get", "incdest", "-n", other_namespace)
    assert code != 0 and "forbidden" in err.lower()

    def can(verb: str, resource: str, ns: str = namespace) -> bool:
        name, _, sub = resource.partition("/")
        return run("auth", "can-i", verb, name, "-n", ns, *([f"--subresource={sub}"] if sub else []))[0] == 0

    # exactly the verbs the code uses, nothing more (no update, no patch on Events, no events.k8s.io)
    for resource, verbs in {
        "secrets": {"get", "list", "watch"},
        "incidentdestinations.notifications.causely.ai": {"get", "list", "watch", "create", "patch", "delete"},
        "incidentdestinations.notifications.causely.ai/status": {"patch"},
        "findings.notifications.causely.ai": {"get", "list", "watch", "create", "patch", "delete"},
        "findings.notifications.causely.ai/status": {"patch"},
        "leases.coordination.k8s.io": {"get", "create", "update"},
        "events": {"create"},
        "events.events.k8s.io": set(),
    }.items():
        for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
            assert can(verb, resource) is (verb in verbs), (verb, resource)
            assert not can(verb, resource, other_namespace), (verb, resource, "other namespace")
    code, _ = run("auth", "can-i", "list", "namespaces")
    assert code != 0


def test_no_cluster_scoped_rbac_is_granted(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, tmp_path: Path
) -> None:
    """kopf runs with scanning disabled, so the operator needs (and gets) no ClusterRole at all."""
    docs = rendered_base(kube_api)
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    apply(kube_api, in_namespace(by_kind(docs, "ServiceAccount"), namespace))
    token = kube_api.kubectl("create", "token", "causely-incidentio", "-n", namespace).stdout.strip()
    as_operator = kube_api.kubeconfig_for_token(token, tmp_path / "operator.kubeconfig")
    for verb, resource in (("get", "customresourcedefinitions"), ("list", "namespaces"), ("list", "nodes")):
        result = kube_api.kubectl("auth", "can-i", verb, resource, kubeconfig=as_operator, check=False)
        assert result.returncode != 0, (verb, resource)
