"""The Helm chart with a real helm 3: lint, the schema, each ci/ values file rendered, and no drift from kustomize.

The server-side dry runs of the same renderings are in tests/e2e/test_chart_and_overlay.py.
"""

from __future__ import annotations

import base64
import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_tools import (
    CHART,
    CI_VALUES,
    MANIFESTS,
    ROOT,
    Doc,
    by_kind,
    container,
    env_of,
    kustomize,
    one,
    run,
    template,
    template_file,
)

from causely_incidentio.kube.envdest import ENV_SECRET_KEY, ENV_SECRET_NAME

CI_FILES = sorted(p.name for p in CI_VALUES.glob("*-values.yaml"))
INCIDENT_IO_SETTINGS = ("INCIDENT_IO_API_TOKEN", "INCIDENT_IO_INCIDENT_TYPE_ID", "INCIDENT_IO_SEVERITY_ID",
                        "INCIDENT_IO_RESOLVED_STATUS_NAME", "INCIDENT_IO_NOTIFY_CHANNEL")


def test_the_ci_values_files_cover_each_case() -> None:
    assert {"defaults-values.yaml", "existing-secrets-values.yaml", "multi-namespace-values.yaml",
            "all-namespaces-values.yaml", "monitoring-values.yaml", "causely-values.yaml"} <= set(CI_FILES)


def test_helm_version_is_the_pinned_helm_3() -> None:
    assert run("helm", "version", "--short").stdout.startswith("v3.19.0")


@pytest.mark.parametrize("values", ["", *CI_FILES])
def test_helm_lint_is_clean(values: str) -> None:
    args = ["-f", str(CI_VALUES / values)] if values else []
    result = run("helm", "lint", "--strict", str(CHART), *args)
    assert "0 chart(s) failed" in result.stdout, result.stdout


# ---- the schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "complaint"), [
    ("replicaCount=0", "at '/replicaCount': minimum: got 0, want 1"),
    ("logFormat=yaml", "at '/logFormat': value must be one of 'text', 'json'"),
    ("notifications.incident_io.api_tokn=x", "at '/notifications/incident_io': additional properties 'api_tokn'"),
    ("notifications.incident_io.notify_channel=maybe", "at '/notifications/incident_io/notify_channel'"),
    ("allowedApiUrls={api.incident.io}", "at '/allowedApiUrls/0'"),
    ("watchNamespaces={Team_A}", "at '/watchNamespaces/0'"),
    ("image.pullPolicy=Sometimes", "at '/image/pullPolicy'"),
])
def test_schema_rejects_a_bad_value_naming_it(flag: str, complaint: str) -> None:
    result = run("helm", "template", "x", str(CHART), "--set", flag, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert complaint in result.stderr, result.stderr


def test_enabled_incident_io_without_a_token_says_what_to_set() -> None:
    result = run("helm", "template", "x", str(CHART), "--set", "notifications.incident_io.enabled=true", check=False)
    assert result.returncode != 0
    assert ("notifications.incident_io.enabled is true, but neither notifications.incident_io.api_token nor "
            "notifications.incident_io.existingSecret.name is set") in result.stderr


def test_the_schema_describes_every_value_in_values_yaml() -> None:
    """A value added to values.yaml without a schema entry would escape validation."""
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], sub: dict[str, Any], path: str) -> list[str]:
        missing = []
        for key, value in node.items():
            entry = sub.get("properties", {}).get(key)
            if entry is None:
                missing.append(f"{path}{key}")
            elif isinstance(value, dict) and value and entry.get("properties"):
                missing += walk(value, entry, f"{path}{key}.")
        return missing

    assert walk(values, schema, "") == []


# ---- each values file ---------------------------------------------------------------------------------


def test_defaults() -> None:
    docs = template_file("defaults-values.yaml")
    assert {d["kind"] for d in docs} == {"ServiceAccount", "Secret", "Role", "RoleBinding", "Service", "Deployment",
                                        "PodDisruptionBudget"}
    env = env_of(docs)
    assert env["INCIDENT_IO_ALLOWED_API_URLS"] == "https://api.incident.io"
    assert not set(INCIDENT_IO_SETTINGS) & set(env)  # no default destination unless enabled
    secret = one(docs, "Secret")
    assert secret["metadata"]["name"] == "causely-incidentio-receiver"
    assert len(base64.b64decode(secret["data"]["token"])) == 48  # generated
    assert env["CAUSELY_RECEIVER_TOKEN"] == {"secretKeyRef": {"name": "causely-incidentio-receiver", "key": "token"}}
    assert container(docs)["image"] == "causely-incidentio:0.1.0"  # appVersion
    dep = one(docs, "Deployment")
    assert dep["spec"]["replicas"] == 2
    for doc in docs:
        assert doc["metadata"]["namespace"] == "causely", doc["kind"]


def test_the_release_name_names_the_objects() -> None:
    docs = template("--set", "image.tag=1.2.3", release="incidents")
    assert {d["metadata"]["name"] for d in docs} == {"incidents-causely-incidentio",
                                                   "incidents-causely-incidentio-receiver"}
    assert container(docs)["image"] == "causely-incidentio:1.2.3"
    (binding,) = by_kind(docs, "RoleBinding")
    assert binding["subjects"][0]["name"] == one(docs, "ServiceAccount")["metadata"]["name"]


def test_existing_secrets_are_referenced_and_none_is_made() -> None:
    docs = template_file("existing-secrets-values.yaml")
    assert by_kind(docs, "Secret") == []
    env = env_of(docs)
    assert env["CAUSELY_RECEIVER_TOKEN"] == {"secretKeyRef": {"name": "causely-receiver-token", "key": "bearer"}}
    assert env["INCIDENT_IO_API_TOKEN"] == {"secretKeyRef": {"name": "causely-incidentio-env", "key": "api_token"}}
    assert env["INCIDENT_IO_RESOLVED_STATUS_NAME"] == "Resolved"
    assert env["INCIDENT_IO_NOTIFY_CHANNEL"] == "false"
    assert "INCIDENT_IO_SEVERITY_ID" not in env  # unset stays unset: the operator's own default applies


def test_causely_values_file_becomes_the_incident_io_variables() -> None:
    """Causely's causely-values.yaml shape, strings and all, with keys the chart ignores."""
    docs = template_file("causely-values.yaml")
    source = yaml.safe_load((CI_VALUES / "causely-values.yaml").read_text())["notifications"]["incident_io"]
    env = env_of(docs)
    assert env["INCIDENT_IO_INCIDENT_TYPE_ID"] == source["incident_type_id"]
    assert env["INCIDENT_IO_SEVERITY_ID"] == source["severity_id"]
    assert env["INCIDENT_IO_RESOLVED_STATUS_NAME"] == source["resolved_status_name"]
    assert env["INCIDENT_IO_NOTIFY_CHANNEL"] == "true"
    # the Secret the operator's incidentio-env destination points its tokenSecretRef at (kube/envdest.py)
    assert env["INCIDENT_IO_API_TOKEN"] == {"secretKeyRef": {"name": ENV_SECRET_NAME, "key": ENV_SECRET_KEY}}
    (token_secret,) = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == ENV_SECRET_NAME]
    assert token_secret["metadata"]["labels"]["notifications.causely.ai/incident-io-token"] == "true"
    assert base64.b64decode(token_secret["data"]["api_token"]).decode() == source["api_token"]
    # the token is in its Secret only: never in the Deployment (which kubectl describe and Argo CD show)
    assert source["api_token"] not in yaml.safe_dump(one(docs, "Deployment"))


def test_the_api_key_secret_is_the_one_the_operator_reads_whatever_the_release() -> None:
    docs = template("--set", "notifications.incident_io.enabled=true", "--set", "notifications.incident_io.api_token=x",
                    release="other")
    assert env_of(docs)["INCIDENT_IO_API_TOKEN"]["secretKeyRef"]["name"] == ENV_SECRET_NAME
    assert ENV_SECRET_NAME in {s["metadata"]["name"] for s in by_kind(docs, "Secret")}


@pytest.mark.parametrize("ref", ["name=my-key,notifications.incident_io.existingSecret.key=api_token",
                                 "name=causely-incidentio-env,notifications.incident_io.existingSecret.key=token"])
def test_an_existing_secret_the_operator_would_not_read_is_refused(ref: str) -> None:
    result = run("helm", "template", "x", str(CHART), "--set", "notifications.incident_io.enabled=true",
                 "--set", f"notifications.incident_io.existingSecret.{ref}", check=False)
    assert result.returncode != 0
    assert "the operator's default destination reads its API key from the Secret causely-incidentio-env, " \
           "key api_token" in result.stderr, result.stderr


def test_a_string_false_keeps_the_destination_off() -> None:
    docs = template("--set-string", "notifications.incident_io.enabled=false")
    assert "INCIDENT_IO_API_TOKEN" not in env_of(docs)


def test_receiver_token_and_allowed_urls_from_values() -> None:
    docs = template("--set", "receiver.token=s3cret", "--set",
                    "allowedApiUrls={https://api.incident.io,https://eu.incident.example}")
    assert base64.b64decode(one(docs, "Secret")["data"]["token"]) == b"s3cret"
    assert env_of(docs)["INCIDENT_IO_ALLOWED_API_URLS"] == "https://api.incident.io,https://eu.incident.example"


def test_multi_namespace_binds_a_cluster_role_in_each_watched_namespace_only() -> None:
    docs = template_file("multi-namespace-values.yaml", "--set", "watchNamespaces={team-a,causely,team-b}")
    args = container(docs)["args"]
    assert args[:7] == ["run", "--namespace", "$(POD_NAMESPACE)", "--namespace", "team-a", "--namespace", "team-b"]
    assert args.count("--namespace") == 3  # the release namespace is not repeated
    assert args[-2:] == ["--log-format", "json"]
    assert one(docs, "Deployment")["spec"]["replicas"] == 3
    assert by_kind(docs, "ClusterRoleBinding") == []
    (cluster_role,) = by_kind(docs, "ClusterRole")
    assert "leases" not in str(cluster_role["rules"])  # the Lease lives in the release namespace only
    bindings = {b["metadata"]["namespace"]: b for b in by_kind(docs, "RoleBinding")}
    assert set(bindings) == {"causely", "team-a", "team-b"}
    assert bindings["causely"]["roleRef"]["kind"] == "Role"
    for ns in ("team-a", "team-b"):
        assert bindings[ns]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                           "name": cluster_role["metadata"]["name"]}
        assert bindings[ns]["subjects"] == [{"kind": "ServiceAccount", "name": "causely-incidentio",
                                             "namespace": "causely"}]


def test_all_namespaces_is_cluster_wide() -> None:
    docs = template_file("all-namespaces-values.yaml")
    args = container(docs)["args"]
    assert "--all-namespaces" in args and "--namespace" not in args
    assert by_kind(docs, "Role") == [] and by_kind(docs, "RoleBinding") == []
    role = one(docs, "ClusterRole")
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]} in role["rules"]
    binding = one(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["namespace"] == "causely"


def test_monitoring_objects() -> None:
    docs = template_file("monitoring-values.yaml")
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    # the alerts select job="causely-incidentio": the job label comes from the Service's name label
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "causely-incidentio"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rule = one(docs, "PrometheusRule")
    rules = yaml.safe_load((ROOT / "monitoring" / "prometheus-rules.yaml").read_text())
    assert rule["spec"]["groups"] == rules["groups"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
        one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"].items())
    assert len(policy["spec"]["ingress"][0]["from"]) == 2


def test_the_plain_servicemonitor_selects_the_kustomize_service() -> None:
    (monitor,) = yaml.safe_load_all((ROOT / "monitoring" / "servicemonitor.yaml").read_text())
    service = one(kustomize(MANIFESTS), "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "causely-incidentio"
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


# ---- no drift from the kustomize base -----------------------------------------------------------------


def _strip(doc: Doc) -> Doc:
    """``doc`` without what legitimately differs: labels (and selectors made of them), namespace, comments."""
    doc = copy.deepcopy(doc)
    doc["metadata"].pop("labels", None)
    doc["metadata"].pop("namespace", None)

    def scrub(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("labels", "matchLabels"):
                if key in node:
                    node[key] = "<labels>"
            if "selector" in node and isinstance(node["selector"], dict) and "matchLabels" not in node["selector"]:
                node["selector"] = "<labels>"  # a Service's selector is a plain map
            for value in node.values():
                scrub(value)
        elif isinstance(node, list):
            for value in node:
                scrub(value)

    scrub(doc.get("spec"))
    return doc


def _pair() -> tuple[list[Doc], list[Doc]]:
    return template("--include-crds"), kustomize(MANIFESTS)


def test_chart_and_kustomize_render_the_same_deployment() -> None:
    chart, base = _pair()
    chart_dep, base_dep = _strip(one(chart, "Deployment")), _strip(one(base, "Deployment"))
    # The one designed difference: the chart sets INCIDENT_IO_* from values (notifications.incident_io,
    # allowedApiUrls); the base reads them from the optional Secret causely-incidentio-env.
    for dep in (chart_dep, base_dep):
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        c["env"] = [e for e in c["env"] if not e["name"].startswith("INCIDENT_IO_")]
    assert chart_dep == base_dep
    enabled = env_of(template("--set", "notifications.incident_io.enabled=true",
                              "--set", "notifications.incident_io.api_token=x",
                              "--set", "notifications.incident_io.incident_type_id=t",
                              "--set", "notifications.incident_io.severity_id=s",
                              "--set", "notifications.incident_io.resolved_status_name=r"))
    base_names = {name for name in env_of(base) if name.startswith("INCIDENT_IO_")}
    assert base_names == set(INCIDENT_IO_SETTINGS)
    assert base_names <= set(enabled)
    # and every selector still selects: pods carry the selector labels in both
    for docs in (chart, base):
        dep = one(docs, "Deployment")
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert one(docs, "Service")["spec"]["selector"].items() <= labels.items()
        assert one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("kind", ["Role", "RoleBinding", "ServiceAccount", "Service", "PodDisruptionBudget"])
def test_chart_and_kustomize_render_the_same(kind: str) -> None:
    chart, base = _pair()
    assert _strip(one(chart, kind)) == _strip(one(base, kind))


def test_chart_and_kustomize_bind_the_rules_to_their_own_service_account() -> None:
    chart, base = _pair()
    for docs in (chart, base):
        (subject,) = one(docs, "RoleBinding")["subjects"]
        assert subject == {"kind": "ServiceAccount", "name": one(docs, "ServiceAccount")["metadata"]["name"],
                           "namespace": "causely"}


def test_chart_and_kustomize_carry_the_same_crds() -> None:
    chart, base = _pair()
    key = lambda d: d["metadata"]["name"]  # noqa: E731
    assert sorted(by_kind(chart, "CustomResourceDefinition"), key=key) == sorted(
        by_kind(base, "CustomResourceDefinition"), key=key)
    assert len(by_kind(chart, "CustomResourceDefinition")) == 2


def test_chart_files_are_byte_copies() -> None:
    for name in ("incidentdestinations.yaml", "findings.yaml"):
        assert (CHART / "crds" / name).read_bytes() == (ROOT / "crds" / name).read_bytes(), (
            f"charts/causely-incidentio/crds/{name} differs: cp crds/{name} charts/causely-incidentio/crds/")
    assert (CHART / "files" / "prometheus-rules.yaml").read_bytes() == (
        ROOT / "monitoring" / "prometheus-rules.yaml").read_bytes(), (
        "cp monitoring/prometheus-rules.yaml charts/causely-incidentio/files/")


def test_the_chart_role_is_the_manifests_role() -> None:
    """The rules are written twice (a chart cannot read manifests/); compare them rule by rule."""
    (role,) = [d for d in yaml.safe_load_all((MANIFESTS / "rbac.yaml").read_text()) if d["kind"] == "Role"]
    assert one(template(), "Role")["rules"] == role["rules"]


def test_the_kustomize_base_makes_no_namespace_and_binds_whatever_namespace_is_set(tmp_path: Path) -> None:
    assert by_kind(kustomize(MANIFESTS), "Namespace") == []
    overlay = tmp_path / "ops"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": "ops",
         "resources": [os.path.relpath(MANIFESTS, overlay)]}))  # kustomize refuses absolute paths
    docs = kustomize(overlay)
    assert one(docs, "RoleBinding")["subjects"][0]["namespace"] == "ops"
    for doc in docs:
        if doc["kind"] != "CustomResourceDefinition":
            assert doc["metadata"]["namespace"] == "ops", doc["kind"]


def test_the_with_namespace_overlay_creates_and_uses_its_namespace() -> None:
    docs = kustomize(ROOT / "overlays" / "with-namespace")
    (namespace,) = by_kind(docs, "Namespace")
    name = namespace["metadata"]["name"]
    assert name != "causely"  # never Causely's own namespace
    assert one(docs, "RoleBinding")["subjects"][0]["namespace"] == name
    assert one(docs, "Deployment")["metadata"]["namespace"] == name


def test_the_image_is_a_kustomize_images_entry() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    assert entry["name"] == "causely-incidentio"
    assert container(kustomize(MANIFESTS))["image"] == f"{entry['newName']}:{entry['newTag']}"
    # the chart's default image is the same one
    assert container(template())["image"] == f"{entry['newName']}:{entry['newTag']}"
