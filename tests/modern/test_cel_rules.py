"""The IncidentDestination CRD's CEL rules on a current API server (Kubernetes 1.36 apiextensions).

For every rule: an object that satisfies it is accepted and one that breaks it is refused with the rule's
message (server-side dry run, so nothing is stored). The same invalid objects are then given to the
operator's own check, which must refuse them too: clusters without CEL (before 1.25, and the 1.20 e2e tier)
rely on it, so the two must not drift.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from causely_incidentio.destinations import API_VERSION, from_resource
from causely_incidentio.problems import InvalidInput
from causely_incidentio.settings import Settings

CRD_NAME = "incidentdestinations.notifications.causely.ai"
NAMESPACE = "cel-rules"  # the CRD-only server does not check that a namespace exists
TOKEN = {"tokenSecretRef": {"name": "incidentio-api-key"}}
ALLOWED = "https://api.incident.io,http://127.0.0.1:8090,http://localhost:1/x,http://[::1]:8090"

Spec = dict[str, Any]

# (id, spec that must be accepted, spec that must be refused, the message the server gives)
CASES: list[tuple[str, Spec, Spec, str]] = [
    ("renamed incidentTypeId", {**TOKEN, "incidentTypeID": "01T"}, {**TOKEN, "incidentTypeId": "01T"},
     "spec.incidentTypeId was renamed to spec.incidentTypeID"),
    ("renamed severityId", {**TOKEN, "severityID": "01S"}, {**TOKEN, "severityId": "01S"},
     "spec.severityId was renamed to spec.severityID"),
    ("renamed apiUrl", {**TOKEN, "apiURL": "https://api.incident.io"}, {**TOKEN, "apiUrl": "https://api.incident.io"},
     "spec.apiUrl was renamed to spec.apiURL"),
    ("removed causelySecretRef", TOKEN, {"causelySecretRef": {"name": "s"}},
     "spec.causelySecretRef was removed"),
    ("tokenSecretRef required", {**TOKEN, "minSeverity": "High"}, {"minSeverity": "High"},
     "spec.tokenSecretRef is required"),
    ("severityID excludes severityMap", {**TOKEN, "severityID": "", "severityMap": {"High": "Major"}},
     {**TOKEN, "severityID": "01S", "severityMap": {"High": "Major"}},
     "spec.severityID fixes one severity for every incident"),
    ("severityID beside an empty severityMap", {**TOKEN, "severityID": "01S", "severityMap": {}},
     {**TOKEN, "severityID": "01S", "severityMap": {"Low": "Minor"}}, "spec.severityID fixes one severity"),
    ("severityID excludes severityRule", {**TOKEN, "severityRule": "Mapped"},
     {**TOKEN, "severityID": "01S", "severityRule": "Mapped"}, "cannot be combined with spec.severityMap or"),
    ("severityMap keys", {**TOKEN, "severityMap": {"Critical": "SEV0", "Low": "Minor"}},
     {**TOKEN, "severityMap": {"high": "Major"}}, "spec.severityMap keys must be Causely severities"),
    ("apiURL https", {**TOKEN, "apiURL": "https://api.incident.io"}, {**TOKEN, "apiURL": "http://api.incident.io"},
     "spec.apiURL must be an https URL"),
    ("apiURL loopback http", {**TOKEN, "apiURL": "http://127.0.0.1:8090"}, {**TOKEN, "apiURL": "http://10.0.0.1:8090"},
     "spec.apiURL must be an https URL"),
    ("apiURL localhost path", {**TOKEN, "apiURL": "http://localhost:1/x"}, {**TOKEN, "apiURL": "ftp://localhost/x"},
     "spec.apiURL must be an https URL"),
    ("apiURL ipv6 loopback", {**TOKEN, "apiURL": "http://[::1]:8090"},
     {**TOKEN, "apiURL": "https://user:pw@api.incident.io"}, "spec.apiURL must be an https URL"),
    ("apiURL empty means unset", {**TOKEN, "apiURL": ""}, {**TOKEN, "apiURL": "https://"},
     "spec.apiURL must be an https URL"),
    ("apiURL no query", {**TOKEN, "apiURL": "https://api.incident.io/"},
     {**TOKEN, "apiURL": "https://api.incident.io/?x=1"}, "spec.apiURL must be an https URL"),
    ("filter value or values", {**TOKEN, "filters": [{"field": "name", "operator": "Equals", "value": "x"}]},
     {**TOKEN, "filters": [{"field": "name", "operator": "Equals", "value": "x", "values": ["y"]}]},
     "a filter rule takes exactly one of value"),
    ("filter In needs values", {**TOKEN, "filters": [{"field": "severity", "operator": "In", "values": ["High"]}]},
     {**TOKEN, "filters": [{"field": "severity", "operator": "In", "values": []}]},
     "a filter rule with In or NotIn takes a non-empty values list"),
    ("filter Equals needs value", {**TOKEN, "filters": [{"field": "name", "operator": "NotEquals", "value": "x"}]},
     {**TOKEN, "filters": [{"field": "name", "operator": "NotEquals", "values": ["x"]}]},
     "a filter rule with In or NotIn takes a non-empty values list; with Equals or NotEquals, one value"),
    ("filter field", {**TOKEN, "filters": [{"field": "labels.team", "operator": "NotIn", "values": ["a"]}]},
     {**TOKEN, "filters": [{"field": "labels.", "operator": "NotIn", "values": ["a"]}]},
     "filter field must be severity, name, entity.type, impactsSLO or labels.<label key>"),
    ("enum mode", {**TOKEN, "mode": "Test"}, {**TOKEN, "mode": "test"}, 'spec.mode: Unsupported value: "test"'),
    ("enum visibility", {**TOKEN, "visibility": "Private"}, {**TOKEN, "visibility": "private"},
     "spec.visibility: Unsupported value"),
    ("enum severityRule", {**TOKEN, "severityRule": "Critical"}, {**TOKEN, "severityRule": "critical"},
     "spec.severityRule: Unsupported value"),
    ("enum filter operator", {**TOKEN, "filters": [{"field": "name", "operator": "In", "values": ["a"]}]},
     {**TOKEN, "filters": [{"field": "name", "operator": "in", "values": ["a"]}]},
     "spec.filters[0].operator: Unsupported value"),
]


def destination(name: str, spec: Spec) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "IncidentDestination",
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


@pytest.fixture(scope="module")
def crd(modern_api: Any, modern_crds: Any) -> Any:
    """The API server with crds/ applied and Established (tests/modern/conftest.py)."""
    return modern_api


def dry_run(api: Any, name: str, spec: Spec) -> Any:
    return api.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(destination(name, spec)),
                       check=False)


def test_the_crd_is_accepted_with_every_rule(crd: Any) -> None:
    """1.36 compiles every rule within the cost budget (an unbounded string or list would fail here)."""
    stored = json.loads(crd.kubectl("get", "crd", CRD_NAME, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    text = json.dumps(stored["spec"])
    assert text.count("x-kubernetes-validations") >= 4


def test_a_mirror_with_an_empty_spec_is_accepted(crd: Any) -> None:
    result = dry_run(crd, "mirror", {})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("case", "valid", "invalid", "message"), CASES, ids=[c[0] for c in CASES])
class TestRule:
    def test_valid_object_is_accepted(self, crd: Any, case: str, valid: Spec, invalid: Spec, message: str) -> None:
        result = dry_run(crd, "valid", valid)
        assert result.returncode == 0, result.stderr

    def test_invalid_object_is_refused_with_the_message(
        self, crd: Any, case: str, valid: Spec, invalid: Spec, message: str
    ) -> None:
        result = dry_run(crd, "invalid", invalid)
        assert result.returncode != 0, f"{case}: accepted {invalid}"
        assert message in result.stderr, result.stderr

    def test_the_operator_makes_the_same_check(
        self, case: str, valid: Spec, invalid: Spec, message: str
    ) -> None:
        """For clusters without CEL: the operator accepts the valid object and refuses the invalid one."""
        settings = Settings(incident_io_allowed_api_urls=ALLOWED)

        def build(spec: Spec) -> Any:
            return from_resource(destination("d", spec), secret_lookup=lambda ns, n, k: "api-key",
                                 settings=settings)

        build(valid)
        with pytest.raises(InvalidInput):
            build(invalid)
