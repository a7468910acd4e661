"""Destinations from IncidentDestination resources, including mirrors of Causely Secrets."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
from domain_fixtures import SECRET_TOKEN, secret_with_token

from causely_incidentio.destinations import (
    API_VERSION,
    DestinationSource,
    SecretLookupError,
    from_resource,
    from_secret,
)
from causely_incidentio.problems import InvalidInput
from causely_incidentio.settings import Settings
from causely_incidentio.severities import CauselySeverity

TOKENS = {("causely", "incidentio-token", "token"): SECRET_TOKEN,
          ("causely", "incidentio-token", "other"): "second-token-value"}


def lookup(namespace: str, name: str, key: str) -> str | None:
    return TOKENS.get((namespace, name, key))


def resource(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "IncidentDestination",
        "metadata": {"name": "prod", "namespace": "causely", "generation": 3},
        "spec": {"tokenSecretRef": {"name": "incidentio-token"}, **spec},
    }


def build(doc: dict[str, Any], settings: Settings | None = None, **kwargs: Any) -> Any:
    kwargs.setdefault("secret_lookup", lookup)
    return from_resource(doc, settings=settings or Settings(), **kwargs)


def problems(doc: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        build(doc, **kwargs)
    assert SECRET_TOKEN not in str(info.value)
    return {p.where: str(p) for p in info.value.problems}


def test_minimal_resource_uses_defaults() -> None:
    config = build(resource())
    assert config.id == "incidentdestination/causely/prod"
    assert config.name == "prod"
    assert config.source is DestinationSource.RESOURCE
    assert config.namespace == "causely"
    assert config.generation == 3
    assert config.token.get_secret_value() == SECRET_TOKEN
    assert config.min_severity is CauselySeverity.HIGH
    assert config.notify_channel is False
    assert config.filters.enabled and config.filters.rules == ()
    assert config.mode == "standard" and config.visibility == "public" and config.global_ is False
    assert config.api_url is None


def test_every_field() -> None:
    config = build(resource(
        tokenSecretRef={"name": "incidentio-token", "key": "other"},
        incidentTypeId="01TYPE",
        severityId="01SEV",
        severityMap={"critical": "Critical", "HIGH": "Major"},
        minSeverity="Medium",
        resolvedStatusName="Closed",
        notifyChannel=True,
        filters=[{"field": "severity", "operator": "in", "values": ["Critical", "High"]},
                 {"field": "labels.team", "operator": "equals", "value": "core"},
                 {"field": "name", "operator": "not_in", "value": ["A"]}],
        filtersEnabled=False,
        mode="test",
        visibility="private",
        apiUrl="http://127.0.0.1:8090",
        **{"global": True},
    ))
    assert config.token.get_secret_value() == "second-token-value"
    assert config.incident_type_id == "01TYPE" and config.severity_id == "01SEV"
    assert config.severity_map == {"Critical": "Critical", "High": "Major"}
    assert config.min_severity is CauselySeverity.MEDIUM
    assert config.resolved_status_name == "Closed"
    assert config.notify_channel is True
    assert len(config.filters.rules) == 3 and not config.filters.enabled
    assert config.mode == "test" and config.visibility == "private" and config.global_ is True
    assert config.api_url == "http://127.0.0.1:8090"


def test_environment_fills_unset_fields() -> None:
    settings = Settings(incident_io_incident_type_id="ENVTYPE", incident_io_resolved_status_name="Fixed")
    config = build(resource(), settings)
    assert config.incident_type_id == "ENVTYPE" and config.resolved_status_name == "Fixed"
    assert build(resource(incidentTypeId="MINE"), settings).incident_type_id == "MINE"


class TestProblems:
    def test_wrong_api_version_and_kind(self) -> None:
        doc = resource() | {"apiVersion": "v1", "kind": "Other"}
        p = problems(doc)
        assert API_VERSION in p["apiVersion"] and "IncidentDestination" in p["kind"]

    def test_missing_spec(self) -> None:
        doc = resource()
        del doc["spec"]
        assert "spec" in problems(doc)

    def test_unknown_spec_field(self) -> None:
        assert "unknown field" in problems(resource(minSeverty="High"))["spec.minSeverty"]

    def test_missing_token_ref(self) -> None:
        doc = resource()
        del doc["spec"]["tokenSecretRef"]
        assert "missing" in problems(doc)["spec.tokenSecretRef"]

    def test_token_ref_without_name(self) -> None:
        assert "spec.tokenSecretRef.name" in problems(resource(tokenSecretRef={"key": "token"}))

    def test_token_secret_has_no_such_key(self) -> None:
        p = problems(resource(tokenSecretRef={"name": "incidentio-token", "key": "nope"}))
        assert "Secret causely/incidentio-token has no key 'nope'" in p["spec.tokenSecretRef"]

    def test_token_secret_missing(self) -> None:
        p = problems(resource(tokenSecretRef={"name": "absent"}))
        assert "Secret causely/absent" in p["spec.tokenSecretRef"]

    def test_lookup_error_message_is_used(self) -> None:
        def failing(namespace: str, name: str, key: str) -> str | None:
            raise SecretLookupError(f"Secret {namespace}/{name} not found")

        p = problems(resource(), secret_lookup=failing)
        assert p["spec.tokenSecretRef"] == "spec.tokenSecretRef: Secret causely/incidentio-token not found"

    def test_empty_token(self) -> None:
        p = problems(resource(), secret_lookup=lambda ns, n, k: "  ")
        assert "is empty" in p["spec.tokenSecretRef"]

    @pytest.mark.parametrize("field", ["notifyChannel", "filtersEnabled", "global"])
    def test_booleans(self, field: str) -> None:
        assert "not a boolean" in problems(resource(**{field: "true"}))[f"spec.{field}"]

    @pytest.mark.parametrize("field", ["incidentTypeId", "severityId", "resolvedStatusName", "apiUrl"])
    def test_strings(self, field: str) -> None:
        assert "not a string" in problems(resource(**{field: 5}))[f"spec.{field}"]

    def test_bad_enums(self) -> None:
        p = problems(resource(minSeverity="Urgent", mode="retrospective", visibility="hidden"))
        assert "'Urgent'" in p["spec.minSeverity"]
        assert "standard, test" in p["spec.mode"]
        assert "public, private" in p["spec.visibility"]

    def test_bad_api_url(self) -> None:
        assert "http(s) URL" in problems(resource(apiUrl="api.incident.io"))["spec.apiUrl"]

    def test_bad_severity_map(self) -> None:
        p = problems(resource(severityMap={"Urgent": "x", "Low": 3}))
        assert "spec.severityMap.Urgent" in p and "spec.severityMap.Low" in p

    def test_filters_not_a_list(self) -> None:
        assert "not a list" in problems(resource(filters={"field": "name"}))["spec.filters"]

    def test_filter_problems_are_located(self) -> None:
        p = problems(resource(filters=[{"field": "name", "operator": "equals", "value": "x"},
                                       {"field": "name", "operator": "in", "value": "x"}]))
        assert "in needs a list" in p["spec.filters[1].value"]

    def test_all_problems_at_once(self) -> None:
        p = problems(resource(mode="x", visibility="y", notifyChannel="z", tokenSecretRef={"name": "absent"}))
        assert {"spec.mode", "spec.visibility", "spec.notifyChannel", "spec.tokenSecretRef"} <= set(p)


class TestCauselySecretRef:
    SECRETS: dict[tuple[str, str], Mapping[str, Any]] = {
        ("causely", "incidentio-notification-config"): secret_with_token(),
    }

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.SECRETS.get((namespace, name))

    def mirror(self, **spec: Any) -> dict[str, Any]:
        doc = resource()
        doc["spec"] = {"causelySecretRef": {"name": "incidentio-notification-config"}, **spec}
        return doc

    def test_mirror_keeps_the_secret_identity(self) -> None:
        config = build(self.mirror(), secret_get=self.get)
        direct = from_secret(secret_with_token(), Settings())
        assert config.id == "secret/causely/incidentio-notification-config"
        assert config.source is DestinationSource.SECRET
        assert config.name == "incidentIO"
        assert config.generation == 3
        assert config.fingerprint == direct.fingerprint  # same settings, same token

    def test_crd_defaults_do_not_count_as_set(self) -> None:
        doc = self.mirror(minSeverity="High", notifyChannel=False, filtersEnabled=True, mode="standard",
                          visibility="public", filters=[], severityMap={}, **{"global": False})
        assert build(doc, secret_get=self.get).id.startswith("secret/")

    def test_mutually_exclusive_with_settings(self) -> None:
        p = problems(self.mirror(incidentTypeId="x", tokenSecretRef={"name": "t"}, minSeverity="Low"),
                     secret_get=self.get)
        assert {"spec.incidentTypeId", "spec.tokenSecretRef", "spec.minSeverity"} <= set(p)
        assert "causelySecretRef" in p["spec.incidentTypeId"]

    def test_secret_not_found(self) -> None:
        doc = self.mirror()
        doc["spec"]["causelySecretRef"]["name"] = "gone"
        assert "Secret causely/gone not found" in problems(doc, secret_get=self.get)["spec.causelySecretRef"]

    def test_without_a_secret_reader(self) -> None:
        assert "spec.causelySecretRef" in problems(self.mirror())

    def test_missing_name(self) -> None:
        doc = self.mirror()
        doc["spec"]["causelySecretRef"] = {}
        assert "spec.causelySecretRef.name" in problems(doc, secret_get=self.get)

    def test_invalid_secret_reports_the_secret(self) -> None:
        bad = copy.deepcopy(secret_with_token())
        bad["stringData"]["notif_config_global"] = "perhaps"
        with pytest.raises(InvalidInput) as info:
            build(self.mirror(), secret_get=lambda ns, n: bad)
        assert info.value.subject == "Secret causely/incidentio-notification-config"
        assert info.value.problems[0].where == "notif_config_global"
