"""An in-memory Finding API with the API server's concurrency rules: resourceVersion preconditions (409),
generation bumps on spec changes only, a status subresource that ignores everything but status."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from typing import Any

from kube_fakes import PatchFailed, merge_patch


class FakeFindingApi:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.rv = 100
        self.calls: list[str] = []
        self.fail: dict[str, list[BaseException]] = {}  # method name → errors raised by its next calls
        self.namespaces = {"ns", "causely", "other"}
        self.before_write: Any = None  # an async hook run before each write lands (to interleave writers)

    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    async def _enter(self, method: str) -> None:
        self.calls.append(method)
        await asyncio.sleep(0)
        errors = self.fail.get(method)
        if errors:
            raise errors.pop(0)

    async def get_finding(self, namespace: str, name: str) -> dict[str, Any] | None:
        await self._enter("get")
        obj = self.objects.get((namespace, name))
        return copy.deepcopy(obj) if obj else None

    async def create_finding(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        await self._enter("create")
        if self.before_write:
            await self.before_write()
        if namespace not in self.namespaces:
            raise PatchFailed(404, "Not Found")
        body = json.loads(json.dumps(body))
        name = body["metadata"]["name"]
        if (namespace, name) in self.objects:
            raise PatchFailed(409, "AlreadyExists")
        body["metadata"].update(resourceVersion=self._bump(), generation=1, uid=f"uid-{name}",
                                creationTimestamp="2026-11-29T00:00:00Z")
        body.pop("status", None)
        self.objects[(namespace, name)] = body
        return copy.deepcopy(body)

    def _check(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        obj = self.objects.get((namespace, name))
        if obj is None:
            raise PatchFailed(404, "Not Found")
        want = (patch.get("metadata") or {}).get("resourceVersion")
        if want is not None and want != obj["metadata"]["resourceVersion"]:
            raise PatchFailed(409, "Conflict")
        return obj

    async def patch_finding(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        await self._enter("patch")
        if self.before_write:
            await self.before_write()
        patch = json.loads(json.dumps(patch))
        obj = self._check(namespace, name, patch)
        patch.get("metadata", {}).pop("resourceVersion", None)
        new = merge_patch(obj, {k: v for k, v in patch.items() if k != "status"})
        if new.get("spec") != obj.get("spec"):
            new["metadata"]["generation"] = obj["metadata"]["generation"] + 1
        new["metadata"]["resourceVersion"] = self._bump()
        self.objects[(namespace, name)] = new
        return copy.deepcopy(new)

    async def patch_finding_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        await self._enter("status")
        if self.before_write:
            await self.before_write()
        patch = json.loads(json.dumps(patch))
        obj = self._check(namespace, name, patch)
        new = copy.deepcopy(obj)
        new["status"] = merge_patch(obj.get("status") or {}, patch.get("status") or {})
        new["metadata"]["resourceVersion"] = self._bump()
        self.objects[(namespace, name)] = new
        return copy.deepcopy(new)

    async def delete_finding(self, namespace: str, name: str, resource_version: str | None) -> None:
        await self._enter("delete")
        obj = self.objects.get((namespace, name))
        if obj is None:
            return
        if resource_version and obj["metadata"]["resourceVersion"] != resource_version:
            raise PatchFailed(409, "Conflict")
        del self.objects[(namespace, name)]

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.calls.append("destination-status")


DEST = "secret/ns/dest"


def intake(doc: dict[str, Any], dest: str = DEST) -> Any:
    """The notification ``doc`` as the receiver hands it to the store for ``dest``."""
    from causely_incidentio.payload import parse_notification
    from causely_incidentio.sync.records import Intake

    raw = json.dumps(doc).encode()
    n = parse_notification(raw)
    return Intake(dest, n.object_id, raw, 1000.0, n)


def finding(api: FakeFindingApi, oid: str, dest: str = DEST) -> dict[str, Any]:
    """The stored Finding of ``dest`` and ``oid``."""
    from causely_incidentio.kube import findings as F

    return api.objects[(F.split_destination_id(dest)[1], F.finding_name(dest, oid))]


def history() -> Any:
    from causely_incidentio.sync.journal import HistoryEntry

    return HistoryEntry(DEST, "A", "ProblemDetected", "create", "detected")

