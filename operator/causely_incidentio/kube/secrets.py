"""An in-memory, read-only view of the Secrets in the watched namespaces.

Fed by a kopf *event* handler (which never patches, annotates or finalizes what it watches), it lets the
operator resolve tokens at the moment a destination is (re)built, so a rotated token takes effect on the next
incident.io call without a restart. Values are kept as the API returns them (base64) and decoded on lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from causely_incidentio.destinations import token_from_secret


class SecretStore:
    def __init__(self) -> None:
        self._secrets: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        self._secrets[(meta.get("namespace", ""), meta.get("name", ""))] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {k: meta.get(k) for k in ("name", "namespace", "uid", "labels", "resourceVersion")},
            "type": body.get("type"),
            "data": dict(body.get("data") or {}),
        }

    def is_labelled(self, namespace: str, name: str) -> bool:
        """A Causely notification-config Secret (kept current by the watch, not read by name)."""
        secret = self._secrets.get((namespace, name))
        labels = ((secret or {}).get("metadata") or {}).get("labels") or {}
        return labels.get("causely.ai/notif-config") == "IncidentIO"

    def remove(self, namespace: str, name: str) -> None:
        self._secrets.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._secrets.get((namespace, name))

    def lookup(self, namespace: str, name: str, key: str) -> str | None:
        """The token under ``key``; SecretLookupError when the Secret has not opted in (label)."""
        secret = self._secrets.get((namespace, name))
        if secret is None:
            return None
        return token_from_secret(secret, key)  # raises SecretLookupError unless the Secret opted in
