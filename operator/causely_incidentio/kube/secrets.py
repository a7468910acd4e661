"""An in-memory, read-only view of the Secrets in the watched namespaces.

Fed by a kopf *event* handler (which never patches, annotates or finalizes what it watches), it lets the
operator resolve tokens at the moment a destination is (re)built, so a rotated token takes effect on the next
incident.io call without a restart. Values are kept as the API returns them (base64) and decoded on lookup.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

NOTIF_CONFIG_LABEL = "causely.ai/notif-config"
INCIDENTIO = "IncidentIO"


def is_incidentio_secret(body: Mapping[str, Any]) -> bool:
    labels = (body.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(NOTIF_CONFIG_LABEL) == INCIDENTIO)


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

    def remove(self, namespace: str, name: str) -> None:
        self._secrets.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._secrets.get((namespace, name))

    def lookup(self, namespace: str, name: str, key: str) -> str | None:
        secret = self._secrets.get((namespace, name))
        if secret is None:
            return None
        raw = secret["data"].get(key)
        if raw is None:
            return None
        try:
            return base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None

    def labelled(self) -> list[Mapping[str, Any]]:
        return [s for s in self._secrets.values() if is_incidentio_secret(s)]
