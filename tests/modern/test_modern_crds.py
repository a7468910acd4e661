"""Smoke tests of the modern tier: the project's CRDs as a current (1.36) API server sees them.

The e2e tier proves the operator against 1.20; these prove the CRDs themselves are still valid, warning-free
and fully served (status subresource, printer columns, OpenAPI v3) on a current release.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import yaml
from modernapi import ModernAPIServer, ModernCRDs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "manifests" / "examples").glob("*.yaml"))
WARNING = re.compile(r"^Warning:", re.MULTILINE)


def _no_warnings(stderr: str) -> None:
    assert not WARNING.search(stderr), f"the server sent warnings:\n{stderr}"


def _crd(modern_api: ModernAPIServer, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(modern_api.kubectl("get", f"crd/{name}", "-o", "json").stdout)
    return obj


def _crd_columns(crd_file: str) -> list[str]:
    """The header ``kubectl get -o wide`` should print: NAME, then every additionalPrinterColumn in order."""
    crd = yaml.safe_load((ROOT / "crds" / crd_file).read_text())
    return ["NAME"] + [column["name"].upper() for column in crd["spec"]["versions"][0]["additionalPrinterColumns"]]


def _table(modern_api: ModernAPIServer, resource: str, namespace: str) -> tuple[list[str], dict[str, str]]:
    """Header and the single row of ``kubectl get <resource> -o wide``, cut at the header's column offsets
    (kubectl left-aligns every cell under its header; an unset cell is blank)."""
    header, row = modern_api.kubectl("get", resource, "-n", namespace, "-o", "wide").stdout.splitlines()
    spans = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    ends = [start for start, _ in spans[1:]] + [None]
    cells = {name: row[start:end].strip() for (start, name), end in zip(spans, ends, strict=True)}
    return [name for _, name in spans], cells


def _example_destination() -> dict[str, Any]:
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "IncidentDestination":
                dest: dict[str, Any] = doc
                return dest
    raise AssertionError("no IncidentDestination in manifests/examples")


def test_server_is_a_current_release(modern_api: ModernAPIServer) -> None:
    match = re.fullmatch(r"v1\.(\d+)\.\d+.*", modern_api.version)
    assert match and int(match.group(1)) >= 36, modern_api.version


def test_server_warnings_reach_the_warning_check(modern_api: ModernAPIServer) -> None:
    """The warning-free checks below can fail: a schema a current server dislikes makes kubectl print a warning."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "warnings.modern.example.com"},
        "spec": {
            "group": "modern.example.com",
            "scope": "Namespaced",
            "names": {"kind": "Warning", "plural": "warnings", "singular": "warning", "listKind": "WarningList"},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"at": {"type": "string", "format": "no-such-format"}}},
                }}},
            }],
        },
    }
    result = modern_api.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(crd))
    modern_api.kubectl("delete", "crd", "warnings.modern.example.com", "--wait=false", check=False)
    try:
        _no_warnings(result.stderr)
    except AssertionError as exc:
        assert 'unrecognized format "no-such-format"' in str(exc)
    else:
        raise AssertionError(f"no warning detected in kubectl's stderr: {result.stderr!r}")


def test_crds_are_established_structural_and_warning_free(
    modern_api: ModernAPIServer, modern_crds: ModernCRDs
) -> None:
    _no_warnings(modern_crds.apply_stderr)
    for name in modern_crds.names:
        conditions = {c["type"]: c for c in _crd(modern_api, name)["status"]["conditions"]}
        assert conditions["Established"]["status"] == "True", conditions
        assert conditions["NamesAccepted"]["status"] == "True", conditions
        # A schema a current server cannot use fully (non-structural) is reported as a condition.
        assert "NonStructuralSchema" not in conditions, conditions["NonStructuralSchema"]


def test_reapplying_the_crds_changes_nothing(modern_api: ModernAPIServer, modern_crds: ModernCRDs) -> None:
    """The server keeps the CRDs as written: a second apply is a no-op (no defaulting drift, no warnings)."""
    before = {name: _crd(modern_api, name)["metadata"]["generation"] for name in modern_crds.names}
    result = modern_api.kubectl(
        "apply", "--server-side", "--field-manager=modern-tier",
        "-f", str(ROOT / "crds" / "incidentdestinations.yaml"), "-f", str(ROOT / "crds" / "findings.yaml"),
    )
    _no_warnings(result.stderr)
    assert {name: _crd(modern_api, name)["metadata"]["generation"] for name in modern_crds.names} == before


def test_example_destinations_are_accepted(modern_api: ModernAPIServer, modern_crds: ModernCRDs) -> None:
    """Every IncidentDestination in manifests/examples passes a server-side dry run (the Secrets are core/v1,
    which this server does not serve; the e2e tier covers them)."""
    checked = 0
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "IncidentDestination":
                continue
            result = modern_api.kubectl(
                "apply", "--dry-run=server", "--validate=strict", "-o", "json", "-f", "-", input=json.dumps(doc)
            )
            _no_warnings(result.stderr)
            accepted = json.loads(result.stdout)["spec"]
            pruned = {k: v for k, v in doc["spec"].items() if accepted.get(k) != v}
            assert not pruned, f"{path.name}: fields the server dropped or changed: {pruned}"
            checked += 1
    assert checked >= 1, "no IncidentDestination found in manifests/examples/*.yaml"


def test_incidentdestination_status_subresource_and_columns(
    modern_api: ModernAPIServer, modern_crds: ModernCRDs
) -> None:
    namespace = f"modern-{secrets.token_hex(4)}"  # custom resources need no existing namespace here
    dest = _example_destination()
    dest["metadata"] = {"name": "columns", "namespace": namespace}
    modern_api.kubectl("create", "-f", "-", input=json.dumps(dest))
    status = {
        "source": "IncidentDestination",
        "mode": "standard",
        "openIncidents": 3,
        "pendingFindings": 1,
        "failedFindings": 2,
        "counters": {"created": 7, "resolved": 4},
        "lastSyncTime": "2026-01-02T03:04:05Z",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Syncing", "message": "ok",
             "lastTransitionTime": "2026-01-02T03:04:05Z"},
        ],
    }
    # status written through the main resource is ignored: the status subresource owns it.
    modern_api.kubectl("patch", "incidentdestination/columns", "-n", namespace, "--type=merge",
                       "-p", json.dumps({"status": {"openIncidents": 99}}))
    got = json.loads(modern_api.kubectl("get", "incidentdestination/columns", "-n", namespace, "-o", "json").stdout)
    assert "openIncidents" not in got.get("status", {})
    modern_api.kubectl("patch", "incidentdestination/columns", "-n", namespace, "--subresource=status",
                       "--type=merge", "-p", json.dumps({"status": status}))

    columns, row = _table(modern_api, "incidentdestinations", namespace)
    assert columns == _crd_columns("incidentdestinations.yaml")
    assert row == row | {
        "NAME": "columns", "READY": "True", "REASON": "Syncing", "OPEN": "3", "CREATED": "7", "RESOLVED": "4",
        "PENDING": "1", "FAILED": "2", "SOURCE": "IncidentDestination", "MODE": "standard", "MESSAGE": "ok",
    }
    assert re.fullmatch(r"\d+[smhdy].*", row["LAST SYNC"]), row  # a date column: shown as an age


def test_finding_status_subresource_and_columns(modern_api: ModernAPIServer, modern_crds: ModernCRDs) -> None:
    namespace = f"modern-{secrets.token_hex(4)}"
    finding = {
        "apiVersion": "notifications.causely.ai/v1alpha1",
        "kind": "Finding",
        "metadata": {"name": "f-columns", "namespace": namespace},
        "spec": {
            "destination": "causely/production-oncall",
            "objectId": "obj-123",
            "occurrence": 2,
            "notification": {"type": "ProblemDetected", "severity": "High"},
        },
    }
    created = modern_api.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(finding), check=False)
    assert created.returncode == 0, created.stderr
    status = {"state": "failed", "reference": "INC-42", "lastError": "incident.io said no"}
    modern_api.kubectl("patch", "finding/f-columns", "-n", namespace, "--subresource=status", "--type=merge",
                       "-p", json.dumps({"status": status}))

    columns, row = _table(modern_api, "findings", namespace)
    assert columns == _crd_columns("findings.yaml")
    assert row == row | {
        "NAME": "f-columns", "DESTINATION": "causely/production-oncall", "SEVERITY": "High",
        "LAST": "ProblemDetected", "STATE": "failed", "INCIDENT": "INC-42", "OBJECT ID": "obj-123",
        "OCCURRENCE": "2", "ERROR": "incident.io said no",
    }


def test_explain_reads_the_published_openapi_v3(modern_api: ModernAPIServer, modern_crds: ModernCRDs) -> None:
    paths = json.loads(modern_api.kubectl("get", "--raw", "/openapi/v3").stdout)["paths"]
    assert "apis/notifications.causely.ai/v1alpha1" in paths
    out = modern_api.kubectl("explain", "incidentdestination.spec").stdout
    assert "GROUP:      notifications.causely.ai" in out  # kubectl's OpenAPI v3 explain layout
    for field in ("tokenSecretRef", "incidentTypeId", "severityMap", "filters", "minSeverity"):
        assert re.search(rf"^  {field}\s", out, re.MULTILINE), f"{field} missing from explain:\n{out}"


def test_wrongly_typed_field_is_rejected_naming_the_field(
    modern_api: ModernAPIServer, modern_crds: ModernCRDs
) -> None:
    dest = _example_destination()
    dest["metadata"] = {"name": "broken", "namespace": f"modern-{secrets.token_hex(4)}"}
    dest["spec"]["notifyChannel"] = "yes please"  # a boolean field
    result = modern_api.kubectl("create", "-f", "-", input=json.dumps(dest), check=False)
    assert result.returncode != 0, result.stdout
    assert "spec.notifyChannel" in result.stderr, result.stderr
    assert "boolean" in result.stderr, result.stderr
