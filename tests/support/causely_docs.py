"""Causely documents for tests of every tier: notifications built on the published payloads, and Secrets in
Causely's published format. ``tests/conftest.py`` puts this folder on ``sys.path``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"


def payload(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    data.update(changes)
    return data


def detected(object_id: str, severity: str = "High", ts: str = "2026-11-26T10:00:00Z", **kw: Any) -> dict[str, Any]:
    return payload("detected-high-slo.json", objectId=object_id, severity=severity, timestamp=ts, **kw)


def causely_secret(name: str, token: str, *, namespace: str | None = None, **keys: str) -> dict[str, Any]:
    """A labelled Secret as Causely documents it, resolving to the "Resolved" status unless overridden."""
    data = {
        "notif_config_name": name, "notif_config_type": "IncidentIO", "notif_config_token": token,
        "notif_config_url": "", "notif_config_global": "false", "notif_config_filters_enabled": "true",
        "notif_config_filters": "[]", "notif_config_resolved_status_name": "Resolved",
    }
    data.update(keys)
    metadata: dict[str, Any] = {"name": name, "labels": {"causely.ai/notif-config": "IncidentIO"}}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata, "stringData": data}
