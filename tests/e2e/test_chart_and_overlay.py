"""The Helm chart and a kustomize overlay on the real Kubernetes 1.20 API server.

helm 3.19 and kubectl 1.34 are the pinned ones of ``make helm``. The chart is rendered with the server's own
capabilities (``helm template --validate``) and every object is dry-run on the server; the ServiceMonitor and
PrometheusRule are checked against minimal ``monitoring.coreos.com`` CRDs installed here (they accept any
spec: the server checks kind, scope and metadata, tests/chart checks the content). Then the chart is really
installed and upgraded, and the ServiceAccount's permissions are tried, as they are for a kustomize overlay in
a namespace other than `causely`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helm_tools import CHART, CI_VALUES, MANIFESTS, Doc, by_kind, load_all, one, tool
from kubeapi import KubeAPIServer

pytestmark = pytest.mark.chart

MONITORING_KINDS = {"servicemonitors": "ServiceMonitor", "prometheusrules": "PrometheusRule"}

# Exactly the verbs the operator uses in the namespaces it watches (tests/e2e/test_crd_and_manifests.py has
# the same table for the base in `causely`); the Lease only where it runs.
VERBS = {
    "secrets": {"get", "list", "watch"},
    "incidentdestinations.notifications.causely.ai": {"get", "list", "watch", "create", "patch", "delete"},
    "incidentdestinations.notifications.causely.ai/status": {"patch"},
    "findings.notifications.causely.ai": {"get", "list", "watch", "create", "patch", "delete"},
    "findings.notifications.causely.ai/status": {"patch"},
    "leases.coordination.k8s.io": {"get", "create", "update"},
    "events": {"create"},
}
ALL_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def _monitoring_crd(plural: str, kind: str) -> Doc:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


@pytest.fixture(scope="session")
def monitoring_crds(kube_api: KubeAPIServer) -> None:
    docs = [_monitoring_crd(plural, kind) for plural, kind in MONITORING_KINDS.items()]
    kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    kube_api.kubectl("wait", "--for=condition=established", "--timeout=60s",
                     *(f"crd/{p}.monitoring.coreos.com" for p in MONITORING_KINDS))


@pytest.fixture
def watched_namespace(kube_api: KubeAPIServer, namespace: str) -> Iterator[str]:
    name = f"{namespace}-watched"
    kube_api.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        kube_api.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def helm(kube: KubeAPIServer, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """helm against the e2e server (its own config/cache dirs: nothing of the user's is read or written)."""
    home = kube.workdir / "helm-home"
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update(HELM_CONFIG_HOME=str(home / "config"), HELM_CACHE_HOME=str(home / "cache"),
               HELM_DATA_HOME=str(home / "data"))
    result = subprocess.run([tool("helm"), f"--kubeconfig={kube.kubeconfig_admin}", *args], capture_output=True,
                            text=True, env=env, timeout=180, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def can(kube: KubeAPIServer, kubeconfig: Path, verb: str, resource: str, namespace: str) -> bool:
    return allowed(kube, kubeconfig, [(verb, resource)], namespace)[(verb, resource)]


def allowed(kube: KubeAPIServer, kubeconfig: Path, checks: list[tuple[str, str]],
            namespace: str) -> dict[tuple[str, str], bool]:
    """SelfSubjectAccessReviews (what `kubectl auth can-i` sends), all in one kubectl call, as ``kubeconfig``."""
    reviews = []
    for verb, resource in checks:
        name, _, sub = resource.partition("/")
        plural, _, group = name.partition(".")
        attrs = {"namespace": namespace, "verb": verb, "group": group, "resource": plural}
        if sub:
            attrs["subresource"] = sub
        reviews.append({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                        "spec": {"resourceAttributes": attrs}})
    out = kube.kubectl("create", "-f", "-", "-o", "json", input=yaml.safe_dump_all(reviews), kubeconfig=kubeconfig)
    results, text, decoder = [], out.stdout.strip(), json.JSONDecoder()
    while text:  # one JSON object per review, back to back
        obj, end = decoder.raw_decode(text)
        results.append(obj)
        text = text[end:].lstrip()
    assert len(results) == len(checks)
    return {check: bool(r["status"]["allowed"]) for check, r in zip(checks, results, strict=True)}


def as_service_account(kube: KubeAPIServer, namespace: str, name: str, tmp_path: Path) -> Path:
    token = kube.kubectl("create", "token", name, "-n", namespace).stdout.strip()
    return kube.kubeconfig_for_token(token, tmp_path / f"{namespace}-{name}.kubeconfig")


def assert_operator_verbs(kube: KubeAPIServer, kubeconfig: Path, namespace: str, *, leases: bool = True) -> None:
    checks = [(verb, resource) for resource in VERBS for verb in ALL_VERBS]
    answers = allowed(kube, kubeconfig, checks, namespace)
    expected = {(verb, resource): verb in VERBS[resource] and (leases or not resource.startswith("leases"))
                for verb, resource in checks}
    assert answers == expected, namespace


# ---- the chart ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", sorted(p.name for p in CI_VALUES.glob("*-values.yaml")))
def test_chart_renderings_pass_a_server_side_dry_run(
    kube_api: KubeAPIServer, incidentdestination_crd: str, monitoring_crds: None, namespace: str,
    watched_namespace: str, values: str,
) -> None:
    release = f"r{secrets.token_hex(3)}"
    out = helm(kube_api, "template", release, str(CHART), "-n", namespace, "--validate",
               "-f", str(CI_VALUES / values),
               *(["--set", f"watchNamespaces={{{watched_namespace}}}"] if values.startswith("multi") else []))
    docs = load_all(out.stdout)
    if values.startswith("monitoring"):
        assert {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"} <= {d["kind"] for d in docs}
    # 1.20 has no policy/v1: rendered with the server's capabilities, the chart falls back to v1beta1
    assert one(docs, "PodDisruptionBudget")["apiVersion"] == "policy/v1beta1"
    result = kube_api.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs))
    assert result.stdout.count("(server dry run)") == len(docs), result.stdout


def test_helm_install_upgrade_and_rbac_on_the_server(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, watched_namespace: str, tmp_path: Path
) -> None:
    release = f"r{secrets.token_hex(3)}"
    installed = helm(kube_api, "install", release, str(CHART), "-n", namespace,
                     "--set", f"watchNamespaces={{{watched_namespace}}}")
    fullname = f"{release}-causely-incidentio"
    assert f"http://{fullname}.{namespace}.svc:8080/webhook" in installed.stdout  # NOTES.txt
    secret = kube_api.kubectl("get", "secret", f"{fullname}-receiver", "-n", namespace, "-o", "yaml").stdout
    token = base64.b64decode(yaml.safe_load(secret)["data"]["token"])
    assert len(token) == 48

    # an upgrade keeps the generated receiver token (Causely's Mediator holds a copy of it)
    helm(kube_api, "upgrade", release, str(CHART), "-n", namespace, "--set", f"watchNamespaces={{{watched_namespace}}}",
         "--set", "replicaCount=3")
    secret = kube_api.kubectl("get", "secret", f"{fullname}-receiver", "-n", namespace, "-o", "yaml").stdout
    assert base64.b64decode(yaml.safe_load(secret)["data"]["token"]) == token
    deployment = yaml.safe_load(kube_api.kubectl("get", "deployment", fullname, "-n", namespace, "-o", "yaml").stdout)
    assert deployment["spec"]["replicas"] == 3

    operator = as_service_account(kube_api, namespace, fullname, tmp_path)
    assert_operator_verbs(kube_api, operator, namespace)
    assert_operator_verbs(kube_api, operator, watched_namespace, leases=False)
    elsewhere = allowed(kube_api, operator, [(verb, "secrets") for verb in ALL_VERBS], "default")
    assert not any(elsewhere.values())  # nowhere else
    assert can(kube_api, operator, "list", "incidentdestinations.notifications.causely.ai", watched_namespace)

    helm(kube_api, "uninstall", release, "-n", namespace)
    assert kube_api.kubectl("get", "crd", incidentdestination_crd).returncode == 0  # Helm keeps CRDs


# ---- the kustomize base, moved by an overlay ----------------------------------------------------------


def test_overlay_in_another_namespace_binds_its_own_service_account(
    kube_api: KubeAPIServer, incidentdestination_crd: str, namespace: str, tmp_path: Path
) -> None:
    """The 403-everywhere bug: an overlay's namespace must reach the RoleBinding's subject."""
    overlay = tmp_path / "ops"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": namespace,
        "resources": [os.path.relpath(MANIFESTS, overlay)],
    }))
    rendered = subprocess.run([tool("kubectl"), "kustomize", str(overlay)], capture_output=True, text=True,
                              check=True, timeout=60).stdout
    docs = load_all(rendered)
    assert by_kind(docs, "Namespace") == []
    assert one(docs, "RoleBinding")["subjects"] == [
        {"kind": "ServiceAccount", "name": "causely-incidentio", "namespace": namespace}]
    # policy/v1 PodDisruptionBudget: 1.20 predates it (tests/e2e/test_crd_and_manifests.py says more). The CRDs'
    # CEL rules are unknown to 1.20's published schema, so kubectl's client-side validation is off for them only.
    kube_api.kubectl("apply", "--validate=false", "-f", "-", input=yaml.safe_dump_all(
        by_kind(docs, "CustomResourceDefinition")))
    kube_api.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(
        [d for d in docs if d["kind"] not in {"PodDisruptionBudget", "CustomResourceDefinition"}]))
    operator = as_service_account(kube_api, namespace, "causely-incidentio", tmp_path)
    assert_operator_verbs(kube_api, operator, namespace)
    assert kube_api.kubectl("get", "incdest", "-n", namespace, kubeconfig=operator, check=False).returncode == 0
