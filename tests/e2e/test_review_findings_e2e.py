"""Hostile review, against the real kube-apiserver. ``KubeApi`` calls the API with ``_preload_content=False``;
kubernetes_asyncio only raises ``ApiException`` for non-2xx answers when it preloads the body, so every error
answer (409 Conflict, 404, 500 ...) comes back as a ``Status`` dict the store takes for the written object."""

from __future__ import annotations

import base64
import json
import os

from causely_docs import detected
from kubeapi import KubeAPIServer

from causely_incidentio.kube import findings as F
from causely_incidentio.kube.api import KubeApi
from causely_incidentio.kube.findingstore import FindingStore
from causely_incidentio.payload import parse_notification
from causely_incidentio.sync.journal import DestinationRefused, JournalUnavailable
from causely_incidentio.sync.records import Intake


def intake(dest: str, doc: dict) -> Intake:
    raw = json.dumps(doc).encode()
    n = parse_notification(raw)
    return Intake(dest, n.object_id, raw, 1000.0, n)


async def test_get_finding_of_a_missing_object_is_none(
    kube_api: KubeAPIServer, namespace: str, incidentdestination_crd: str
) -> None:
    api = await KubeApi.connect(str(kube_api.kubeconfig_admin))
    try:
        found = await api.get_finding(namespace, "no-such-finding")
        assert found is None, found  # today: the 404 Status object
    finally:
        await api.close()


async def test_two_replicas_creating_the_same_finding_keep_the_newer_notification(
    kube_api: KubeAPIServer, namespace: str, incidentdestination_crd: str
) -> None:
    """Replica A creates the Finding; replica B (its watch not caught up) creates it too: 409 AlreadyExists.
    B must re-read and write its newer notification; today it takes the 409 Status for success and answers
    202 with nothing written — the lost-notification bug issue 7 set out to fix."""
    api = await KubeApi.connect(str(kube_api.kubeconfig_admin))
    try:
        dest = f"secret/{namespace}/dest"
        a, b = FindingStore(api), FindingStore(api)
        await a.accept([intake(dest, detected("A", ts="2026-11-26T10:00:00Z"))])
        await b.accept([intake(dest, detected("A", ts="2026-11-26T10:05:00Z", type="ProblemUpdated"))])
        body = await api.get_finding(namespace, F.finding_name(dest, "A"))
        assert body is not None and body["spec"]["notification"]["type"] == "ProblemUpdated", body["spec"]
    finally:
        await api.close()


async def test_an_accepted_notification_too_large_for_etcd_is_never_acknowledged_unwritten(
    kube_api: KubeAPIServer, namespace: str, incidentdestination_crd: str
) -> None:
    """~870 KB of incompressible name: under the receiver's 1 MiB limit, but spec carries it twice (plain title
    and zlib+base64 payload), beyond etcd's 1.5 MiB request limit. The API server refuses; today the refusal is
    taken for a written Finding and the receiver would answer 202. It must be refused (or 503), never lost."""
    title = base64.b64encode(os.urandom(650_000)).decode()
    doc = {**detected("huge-one"), "name": title}
    raw = json.dumps(doc).encode()
    assert len(raw) < 1024 * 1024  # the receiver accepts it
    api = await KubeApi.connect(str(kube_api.kubeconfig_admin))
    try:
        store = FindingStore(api)
        dest = f"secret/{namespace}/dest"
        try:
            await store.accept([intake(dest, doc)])
        except (DestinationRefused, JournalUnavailable):
            return
        written = await api.get_finding(namespace, F.finding_name(dest, "huge-one"))
        assert written is not None and written.get("kind") == F.KIND, "acknowledged, but no Finding was written"
    finally:
        await api.close()
