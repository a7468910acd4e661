"""Pure pieces of the operator: conditions, the Secret store, the env destination, destination identity."""

from __future__ import annotations

import base64
import re

import pytest

from causely_incidentio.destinations import SecretLookupError
from causely_incidentio.kube.envdest import env_destination
from causely_incidentio.kube.runtime import _secret_names, destination_id, plain
from causely_incidentio.kube.secrets import SecretStore
from causely_incidentio.kube.status import build_conditions, status_fields
from causely_incidentio.settings import Settings
from causely_incidentio.sync.worker import Health

NOW = "2026-11-26T10:00:00Z"
LATER = "2026-11-26T11:00:00Z"


def healthy() -> Health:
    return Health(authenticated=True, auth_reason="Authenticated", auth_message="ok")


def test_ready_when_config_valid_and_authenticated() -> None:
    conds = {c["type"]: c for c in build_conditions(healthy(), generation=3, previous=None, now=NOW)}
    assert {t: c["status"] for t, c in conds.items()} == {"ConfigValid": "True", "Authenticated": "True",
                                                          "Degraded": "False", "Ready": "True"}
    assert all(c["observedGeneration"] == 3 and c["lastTransitionTime"] == NOW for c in conds.values())


def test_invalid_config_makes_authentication_unknown_and_not_ready() -> None:
    h = Health(config_valid=False, config_reason="InvalidConfig", config_message="spec.filters[0]: bad")
    conds = {c["type"]: c for c in build_conditions(h, generation=1, previous=None, now=NOW)}
    assert conds["ConfigValid"]["status"] == "False" and conds["ConfigValid"]["message"] == "spec.filters[0]: bad"
    assert conds["Authenticated"]["status"] == "Unknown"
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "InvalidConfig")


def test_unauthenticated_is_not_ready_with_its_reason() -> None:
    h = Health(authenticated=False, auth_reason="Unauthenticated", auth_message="401")
    conds = {c["type"]: c for c in build_conditions(h, generation=1, previous=None, now=NOW)}
    assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "Unauthenticated")


def test_last_transition_time_moves_only_when_the_status_changes() -> None:
    first = build_conditions(healthy(), generation=1, previous=None, now=NOW)
    same = build_conditions(healthy(), generation=2, previous=first, now=LATER)
    assert [c["lastTransitionTime"] for c in same] == [NOW, NOW, NOW, NOW]
    broken = Health(authenticated=False, auth_reason="Unauthenticated", auth_message="401")
    changed = {c["type"]: c for c in build_conditions(broken, generation=2, previous=same, now=LATER)}
    assert changed["ConfigValid"]["lastTransitionTime"] == NOW
    assert changed["Authenticated"]["lastTransitionTime"] == LATER
    assert changed["Ready"]["lastTransitionTime"] == LATER


def test_status_fields_carry_source_mode_and_a_message() -> None:
    fields = status_fields(healthy(), generation=4, source="Secret", mode="test", previous_conditions=None, now=NOW)
    assert (fields["source"], fields["mode"], fields["observedGeneration"]) == ("Secret", "test", 4)
    assert "lastSyncTime" not in fields  # never synced yet


def test_secret_store_decodes_at_lookup_and_sees_rotation() -> None:
    store = SecretStore()

    def secret(token: str) -> dict[str, object]:
        return {"metadata": {"name": "k", "namespace": "ns", "uid": "u",
                             "labels": {"notifications.causely.ai/incident-io-token": "true"}},
                "data": {"token": base64.b64encode(token.encode()).decode()}}

    store.put(secret("first"))
    assert store.lookup("ns", "k", "token") == "first"
    store.put(secret("second"))
    assert store.lookup("ns", "k", "token") == "second"
    assert store.lookup("ns", "k", "other") is None and store.lookup("ns", "nope", "token") is None
    store.remove("ns", "k")
    assert store.get("ns", "k") is None
    unlabelled = secret("third")
    del unlabelled["metadata"]["labels"]  # type: ignore[attr-defined]
    store.put(unlabelled)
    with pytest.raises(SecretLookupError, match="has not opted in"):
        store.lookup("ns", "k", "token")


def test_env_destination_points_at_the_secret_and_never_copies_the_token() -> None:
    settings = Settings(incident_io_api_token="secret-value-xyz", incident_io_resolved_status_name="Resolved",
                        incident_io_notify_channel=True)
    doc = env_destination(settings, "causely")
    assert doc is not None
    assert doc["spec"] == {"tokenSecretRef": {"name": "causely-incidentio-env", "key": "api_token"}}
    # every other setting is left unset, so it falls back to the same INCIDENT_IO_* variables
    assert "secret-value-xyz" not in repr(doc)
    assert env_destination(Settings(), "causely") is None


def test_destination_identity_of_mirrors_and_resources() -> None:
    owner = {"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "u1", "controller": True}
    label = {"notifications.causely.ai/source": "Secret"}
    mirror = {"metadata": {"name": "s", "namespace": "ns", "ownerReferences": [owner], "labels": label},
              "spec": {}}
    direct = {"metadata": {"name": "d", "namespace": "ns"}, "spec": {"tokenSecretRef": {"name": "k"}}}
    assert destination_id(mirror) == "secret/ns/s"
    assert destination_id(direct) == "incidentdestination/ns/d"
    # spec cannot make a mirror: a resource written by hand, even naming the Secret, keeps its own identity.
    forged = {"metadata": {"name": "s", "namespace": "ns", "labels": label},
              "spec": {"causelySecretRef": {"name": "s"}}}
    assert destination_id(forged) == "incidentdestination/ns/s"
    assert _secret_names(mirror) == {"s"} and _secret_names(direct) == {"k"}


def test_plain_copies_nested_mappings_and_lists() -> None:
    from types import MappingProxyType

    src = MappingProxyType({"a": MappingProxyType({"b": [MappingProxyType({"c": 1})]})})
    assert plain(src) == {"a": {"b": [{"c": 1}]}}


def test_conditions_always_satisfy_the_crds_metav1_condition_schema() -> None:
    """Every required field set, a reason matching the CRD's pattern, even from odd input or old status."""
    odd = Health(config_valid=False, config_reason="not one word!", config_message="x")
    previous = [{"type": "ConfigValid", "status": "False", "lastTransitionTime": None}]  # written by an old version
    pattern = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    for cond in build_conditions(odd, generation=1, previous=previous, now=NOW):
        assert {"type", "status", "lastTransitionTime", "reason", "message"} <= set(cond)
        assert cond["lastTransitionTime"] == NOW and pattern.match(cond["reason"]), cond
    assert build_conditions(odd, generation=1, previous=None, now=NOW)[0]["reason"] == "Unknown"
