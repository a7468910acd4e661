"""The few Kubernetes API calls the operator makes, on kubernetes_asyncio, in one place.

The operator reads Secrets, mirrors labelled ones into IncidentDestinations, patches destination status
(JSON merge patch on the status subresource), and posts Events. Nothing here ever writes a Secret.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from causely_incidentio.destinations import LEGACY_MIRROR_FIELD, MIRROR_SOURCE, SOURCE_LABEL, mirrored_secret

log = logging.getLogger(__name__)

GROUP = "notifications.causely.ai"
VERSION = "v1alpha1"
PLURAL = "incidentdestinations"
FINDINGS = "findings"
KIND = "IncidentDestination"
API_VERSION = f"{GROUP}/{VERSION}"
MANAGED_BY = "causely-incidentio"
MERGE_PATCH = "application/merge-patch+json"
EVENT_MESSAGE_LIMIT = 1024


class KubeApi:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> KubeApi:
        """In-cluster credentials when running in a Pod, else the kubeconfig (``KUBECONFIG`` or the given)."""
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(config_file=kubeconfig)
        return cls(client.ApiClient())

    async def close(self) -> None:
        await self.api_client.close()

    # -- IncidentDestinations ------------------------------------------------------------------------
    async def get_destination(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch ``status``; the response body (the whole object) is not parsed, to keep patches cheap."""
        resp = await self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, {"status": status},
            _content_type=MERGE_PATCH, _preload_content=False,  # type: ignore[call-arg]
        )
        await checked_body(resp)  # read it, so the connection is reused instead of a new TLS handshake per patch

    async def apply_mirror(self, secret: Mapping[str, Any]) -> str:
        """Create (or re-own) the IncidentDestination that mirrors a labelled Secret; returns its name."""
        meta = secret["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": MANAGED_BY, SOURCE_LABEL: MIRROR_SOURCE},
                "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Secret", "name": name, "uid": meta["uid"],
                    "controller": True,  # blockOwnerDeletion left unset: it would need a write on Secrets
                }],
            },
            "spec": {},  # the Secret is the configuration; the owner reference and label say which Secret
        }
        try:
            await self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            existing = await self.get_destination(namespace, name) or {}
            if mirrored_secret(existing) != name:
                raise MirrorConflict(
                    f"IncidentDestination {namespace}/{name} already exists and is not a mirror of Secret "
                    f"{name}; rename one of them"
                ) from exc
            owners = (existing.get("metadata") or {}).get("ownerReferences") or []
            legacy = LEGACY_MIRROR_FIELD in (existing.get("spec") or {})
            if legacy or not any(o.get("uid") == meta["uid"] for o in owners):  # re-created Secret: re-own
                await self._merge_patch(namespace, name, {
                    "metadata": {"ownerReferences": body["metadata"]["ownerReferences"],
                                 "labels": body["metadata"]["labels"]},
                    # versions before v1alpha1's review wrote spec.causelySecretRef on mirrors: remove it
                    "spec": {LEGACY_MIRROR_FIELD: None},
                })
        return str(name)

    async def apply_destination(self, body: dict[str, Any], *, unset: tuple[str, ...] = ()) -> None:
        """Create ``body``, or merge its labels and spec into the existing object, removing ``unset`` fields."""
        meta = body["metadata"]
        try:
            await self.custom.create_namespaced_custom_object(GROUP, VERSION, meta["namespace"], PLURAL, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            spec = {**dict.fromkeys(unset), **body["spec"]}  # null deletes a field in a merge patch
            await self._merge_patch(meta["namespace"], meta["name"],
                                    {"metadata": {"labels": meta.get("labels", {})}, "spec": spec})

    async def _merge_patch(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        await self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, patch, _content_type=MERGE_PATCH,  # type: ignore[call-arg]
        )

    async def delete_destination(self, namespace: str, name: str) -> None:
        try:
            await self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    # -- Findings ------------------------------------------------------------------------------------
    async def get_finding(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            resp: Any = await self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, FINDINGS, name, _preload_content=False
            )
            return await _json(resp)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def create_finding(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        resp = await self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, FINDINGS, dict(body), _preload_content=False
        )
        return await _json(resp)

    async def patch_finding(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Merge patch; a ``metadata.resourceVersion`` in ``patch`` makes it conditional (409 when stale)."""
        resp = await self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, FINDINGS, name, dict(patch),
            _content_type=MERGE_PATCH, _preload_content=False,  # type: ignore[call-arg]
        )
        return await _json(resp)

    async def patch_finding_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        resp = await self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, FINDINGS, name, dict(patch),
            _content_type=MERGE_PATCH, _preload_content=False,  # type: ignore[call-arg]
        )
        return await _json(resp)

    async def delete_finding(self, namespace: str, name: str, resource_version: str | None) -> None:
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        try:
            await self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, FINDINGS, name, body=body  # type: ignore[arg-type]
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def patch_destination_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        await self.patch_status(namespace, name, status)

    # -- Secrets (read only) -------------------------------------------------------------------------
    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            resp: Any = await self.core.read_namespaced_secret(name, namespace, _preload_content=False)
            return await _json(resp)
        except ApiException as exc:
            if exc.status in (403, 404):
                return None
            raise

    # -- Events --------------------------------------------------------------------------------------
    async def post_event(
        self, involved: Mapping[str, Any], reason: str, message: str, *, warning: bool = False
    ) -> None:
        """Post a core/v1 Event about ``involved`` (apiVersion, kind, namespace, name, uid)."""
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        namespace = involved["namespace"]
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{involved['name']}.", "namespace": namespace},
            "involvedObject": dict(involved),
            "reason": reason,
            "message": message[:EVENT_MESSAGE_LIMIT],
            "type": "Warning" if warning else "Normal",
            "source": {"component": MANAGED_BY},
            "reportingComponent": MANAGED_BY,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self.core.create_namespaced_event(namespace, body)  # type: ignore[arg-type]


class MirrorConflict(RuntimeError):
    """A labelled Secret's mirror name is taken by a user's own IncidentDestination."""


async def checked_body(resp: Any) -> bytes:
    """The body of a raw (``_preload_content=False``) response; raises :class:`ApiException` on a non-2xx.

    kubernetes_asyncio raises for errors only when it preloads the response: a raw 404 or 409 comes back as a
    ``Status`` document, which must never be mistaken for the object. The error carries the status and
    reason, never the body.
    """
    try:
        body: bytes = await resp.read()
    finally:
        resp.release()
    if not 200 <= resp.status <= 299:
        raise ApiException(status=resp.status, reason=resp.reason)
    return body


async def _json(resp: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await checked_body(resp))
    return data


async def _items(resp: Any) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads(await checked_body(resp))
    items: list[dict[str, Any]] = data.get("items") or []
    return items


async def list_findings(api: KubeApi, namespaces: list[str] | None) -> list[dict[str, Any]]:
    if namespaces is None:
        return await _items(await api.custom.list_cluster_custom_object(GROUP, VERSION, FINDINGS,
                                                                         _preload_content=False))
    out: list[dict[str, Any]] = []
    for ns in namespaces:
        out += await _items(await api.custom.list_namespaced_custom_object(GROUP, VERSION, ns, FINDINGS,
                                                                           _preload_content=False))
    return out


async def list_destinations(api: KubeApi, namespaces: list[str] | None) -> list[dict[str, Any]]:
    if namespaces is None:
        return await _items(await api.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL,
                                                                         _preload_content=False))
    out: list[dict[str, Any]] = []
    for ns in namespaces:
        out += await _items(await api.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL,
                                                                           _preload_content=False))
    return out
