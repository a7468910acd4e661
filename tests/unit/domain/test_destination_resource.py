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
    mirrored_secret,
    token_from_secret,
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
        incidentTypeID="01TYPE",
        severityMap={"Critical": "Critical", "High": "Major"},
        severityRule="Mapped",
        minSeverity="Medium",
        resolvedStatusName="Closed",
        notifyChannel=True,
        filters=[{"field": "severity", "operator": "In", "values": ["Critical", "High"]},
                 {"field": "labels.team", "operator": "Equals", "value": "core"},
                 {"field": "name", "operator": "NotIn", "values": ["A"]},
                 {"field": "name", "operator": "NotEquals", "value": "B"}],
        filtersEnabled=False,
        mode="Test",
        visibility="Private",
        apiURL="http://127.0.0.1:8090",
        **{"global": True},
    ), Settings(incident_io_allowed_api_urls="https://api.incident.io, http://127.0.0.1:8090/"))
    assert config.token.get_secret_value() == "second-token-value"
    assert config.incident_type_id == "01TYPE" and config.severity_id is None
    assert config.severity_map == {"Critical": "Critical", "High": "Major"} and config.severity_rule == "Mapped"
    assert config.min_severity is CauselySeverity.MEDIUM
    assert config.resolved_status_name == "Closed"
    assert config.notify_channel is True
    assert [r.operator for r in config.filters.rules] == ["in", "equals", "not_in", "not_equals"]
    assert not config.filters.enabled
    assert config.mode == "test" and config.visibility == "private" and config.global_ is True
    assert config.api_url == "http://127.0.0.1:8090"


def test_environment_fills_unset_fields() -> None:
    settings = Settings(incident_io_incident_type_id="ENVTYPE", incident_io_resolved_status_name="Fixed")
    config = build(resource(), settings)
    assert config.incident_type_id == "ENVTYPE" and config.resolved_status_name == "Fixed"
    assert build(resource(incidentTypeID="MINE"), settings).incident_type_id == "MINE"


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

    @pytest.mark.parametrize("field", ["incidentTypeID", "severityID", "resolvedStatusName", "apiURL"])
    def test_strings(self, field: str) -> None:
        assert "not a string" in problems(resource(**{field: 5}))[f"spec.{field}"]

    def test_bad_enums(self) -> None:
        p = problems(resource(minSeverity="Urgent", mode="retrospective", visibility="hidden", severityRule="x"))
        assert "'Urgent'" in p["spec.minSeverity"]
        assert "Standard, Test" in p["spec.mode"]
        assert "Public, Private" in p["spec.visibility"]
        assert "Critical, Mapped" in p["spec.severityRule"]

    def test_enums_are_cased_as_the_crd_says(self) -> None:
        """The API server's enums are exact, so the operator is too (files and clusters without the CRD)."""
        p = problems(resource(mode="standard", visibility="PUBLIC", minSeverity="high", severityRule="mapped",
                              filters=[{"field": "name", "operator": "in", "values": ["a"]}]))
        assert p["spec.mode"] == "spec.mode: 'standard' must be written 'Standard' (expected one of Standard, Test)"
        assert "must be written 'Public'" in p["spec.visibility"]
        assert "must be written 'High'" in p["spec.minSeverity"]
        assert "must be written 'Mapped'" in p["spec.severityRule"]
        assert "must be written 'In'" in p["spec.filters[0].operator"]
        assert "must be written 'High'" in problems(resource(severityMap={"high": "Major"}))["spec.severityMap.high"]

    @pytest.mark.parametrize(("old", "new"), [("incidentTypeId", "incidentTypeID"), ("severityId", "severityID"),
                                              ("apiUrl", "apiURL")])
    def test_renamed_fields_are_rejected_not_ignored(self, old: str, new: str) -> None:
        assert problems(resource(**{old: "x"}))[f"spec.{old}"] == f"spec.{old}: was renamed to spec.{new}"

    def test_causely_secret_ref_is_rejected_on_a_resource_written_by_hand(self) -> None:
        p = problems(resource(causelySecretRef={"name": "incidentio-notification-config"}))
        assert "was removed" in p["spec.causelySecretRef"] and "tokenSecretRef" in p["spec.causelySecretRef"]

    @pytest.mark.parametrize("url", ["api.incident.io", "ftp://api.incident.io", "http://api.incident.io",
                                     "https://user:pw@api.incident.io", "https://api.incident.io/?x=1",
                                     "http://10.0.0.1:8080"])
    def test_bad_api_url_shape(self, url: str) -> None:
        assert "spec.apiURL" in problems(resource(apiURL=url))

    def test_api_url_must_be_on_the_allow_list(self) -> None:
        p = problems(resource(apiURL="https://attacker.example"))["spec.apiURL"]
        assert "'https://attacker.example' is not an allowed incident.io API URL" in p
        assert "INCIDENT_IO_ALLOWED_API_URLS" in p and "https://api.incident.io" in p

    def test_loopback_http_only_when_listed(self) -> None:
        assert "spec.apiURL" in problems(resource(apiURL="http://127.0.0.1:8090"))
        listed = Settings(incident_io_allowed_api_urls="http://127.0.0.1:8090")
        assert build(resource(apiURL="http://127.0.0.1:8090/"), listed).api_url == "http://127.0.0.1:8090/"
        assert build(resource(apiURL="https://API.incident.io:443"), Settings()).api_url

    def test_environment_url_must_be_allowed_too(self) -> None:
        settings = Settings(incident_io_api_url="http://127.0.0.1:9")
        assert "INCIDENT_IO_API_URL" in problems(resource(), settings=settings)
        allowed = settings.model_copy(update={"incident_io_allowed_api_urls": "http://127.0.0.1:9"})
        assert build(resource(), allowed).api_url is None

    def test_a_bad_allow_list_entry_is_reported(self) -> None:
        settings = Settings(incident_io_allowed_api_urls="https://api.incident.io,http://evil.example")
        assert "http://evil.example" in problems(resource(), settings=settings)["INCIDENT_IO_ALLOWED_API_URLS"]

    def test_severity_id_excludes_map_and_rule(self) -> None:
        p = problems(resource(severityID="01SEV", severityMap={"High": "Major"}))
        assert "cannot be combined with spec.severityMap or spec.severityRule" in p["spec.severityID"]
        assert "spec.severityID" in problems(resource(severityID="01SEV", severityRule="Critical"))
        assert build(resource(severityID="01SEV")).severity_id == "01SEV"

    def test_severity_id_excludes_map_and_rule_from_the_environment(self) -> None:
        settings = Settings(incident_io_severity_id="ENVSEV")
        assert build(resource(), settings).severity_id == "ENVSEV"
        assert build(resource(severityMap={"High": "Major"}), settings).severity_id is None
        assert build(resource(severityRule="Mapped"), settings).severity_id is None

    def test_bad_severity_map(self) -> None:
        p = problems(resource(severityMap={"Urgent": "x", "Low": 3}))
        assert "spec.severityMap.Urgent" in p and "spec.severityMap.Low" in p

    def test_filters_not_a_list(self) -> None:
        assert "not a list" in problems(resource(filters={"field": "name"}))["spec.filters"]

    def test_filter_problems_are_located(self) -> None:
        p = problems(resource(filters=[{"field": "name", "operator": "Equals", "value": "x"},
                                       {"field": "name", "operator": "In", "value": "x"},
                                       {"field": "name", "operator": "Like", "value": "x"}]))
        assert "in needs a list" in p["spec.filters[1].value"]
        assert p["spec.filters[2].operator"] == (
            "spec.filters[2].operator: 'Like' is not allowed (expected one of Equals, NotEquals, In, NotIn)")

    def test_all_problems_at_once(self) -> None:
        p = problems(resource(mode="x", visibility="y", notifyChannel="z", tokenSecretRef={"name": "absent"}))
        assert {"spec.mode", "spec.visibility", "spec.notifyChannel", "spec.tokenSecretRef"} <= set(p)


MIRROR_NAME = "incidentio-notification-config"


def mirror(**spec: Any) -> dict[str, Any]:
    """What the operator writes for a labelled Secret: label, controller owner reference, empty spec."""
    return {
        "apiVersion": API_VERSION,
        "kind": "IncidentDestination",
        "metadata": {
            "name": MIRROR_NAME, "namespace": "causely", "generation": 3,
            "labels": {"notifications.causely.ai/source": "Secret"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Secret", "name": MIRROR_NAME, "uid": "u1",
                                 "controller": True}],
        },
        "spec": dict(spec),
    }


class TestMirrors:
    SECRETS: dict[tuple[str, str], Mapping[str, Any]] = {("causely", MIRROR_NAME): secret_with_token()}

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.SECRETS.get((namespace, name))

    def test_mirror_keeps_the_secret_identity(self) -> None:
        config = build(mirror(), secret_get=self.get)
        direct = from_secret(secret_with_token(), Settings())
        assert config.id == f"secret/causely/{MIRROR_NAME}"
        assert config.source is DestinationSource.SECRET
        assert config.name == "incidentIO"
        assert config.generation == 3
        assert config.fingerprint == direct.fingerprint  # same settings, same token

    def test_the_source_comes_from_the_owner_reference_not_spec(self) -> None:
        assert mirrored_secret(mirror()) == MIRROR_NAME
        for change in ("label", "owner", "controller", "name"):
            doc = mirror()
            if change == "label":
                doc["metadata"]["labels"] = {}
            elif change == "owner":
                doc["metadata"]["ownerReferences"][0]["kind"] = "ConfigMap"
            elif change == "controller":
                del doc["metadata"]["ownerReferences"][0]["controller"]
            else:
                doc["metadata"]["name"] = "other"
            assert mirrored_secret(doc) is None, change

    def test_a_same_named_resource_written_by_hand_is_not_a_mirror(self) -> None:
        doc = resource()
        doc["metadata"]["name"] = MIRROR_NAME
        config = build(doc, secret_get=self.get)
        assert config.id == f"incidentdestination/causely/{MIRROR_NAME}"

    def test_legacy_causely_secret_ref_on_a_mirror_is_tolerated(self) -> None:
        assert build(mirror(causelySecretRef={"name": MIRROR_NAME}), secret_get=self.get).id.startswith("secret/")

    def test_settings_on_a_mirror_are_reported(self) -> None:
        p = problems(mirror(incidentTypeID="x", tokenSecretRef={"name": "t"}, minSeverity="Low"),
                     secret_get=self.get)
        assert {"spec.incidentTypeID", "spec.tokenSecretRef", "spec.minSeverity"} <= set(p)
        assert "configured by that Secret" in p["spec.incidentTypeID"]

    def test_secret_not_found(self) -> None:
        p = problems(mirror(), secret_get=lambda ns, n: None)
        assert f"Secret causely/{MIRROR_NAME} not found" in p["metadata.ownerReferences"]

    def test_without_a_secret_reader(self) -> None:
        assert "metadata.ownerReferences" in problems(mirror())

    def test_invalid_secret_reports_the_secret(self) -> None:
        bad = copy.deepcopy(secret_with_token())
        bad["stringData"]["notif_config_global"] = "perhaps"
        with pytest.raises(InvalidInput) as info:
            build(mirror(), secret_get=lambda ns, n: bad)
        assert info.value.subject == f"Secret causely/{MIRROR_NAME}"
        assert info.value.problems[0].where == "notif_config_global"


class TestTokenOptIn:
    """tokenSecretRef may name only a Secret that opted in (issue 8.11: no confused deputy)."""

    def secret(self, labels: dict[str, str], **data: str) -> dict[str, Any]:
        return {"kind": "Secret", "metadata": {"name": "s", "namespace": "causely", "labels": labels},
                "stringData": data}

    def test_unlabelled_secret_is_refused_with_the_label_to_add(self) -> None:
        with pytest.raises(SecretLookupError) as info:
            token_from_secret(self.secret({}, token="db-password"), "token")
        assert 'notifications.causely.ai/incident-io-token="true"' in str(info.value)
        assert "db-password" not in str(info.value)

    def test_opted_in_secret_is_read(self) -> None:
        labelled = self.secret({"notifications.causely.ai/incident-io-token": "true"}, token="k")
        assert token_from_secret(labelled, "token") == "k"
        with pytest.raises(SecretLookupError):
            token_from_secret(self.secret({"notifications.causely.ai/incident-io-token": "yes"}, token="k"), "token")

    def test_causely_secret_opts_in_its_own_token_only(self) -> None:
        causely = self.secret({"causely.ai/notif-config": "IncidentIO"}, notif_config_token="k", other="pw")
        assert token_from_secret(causely, "notif_config_token") == "k"
        with pytest.raises(SecretLookupError):
            token_from_secret(causely, "other")
