from __future__ import annotations

import json
from typing import Any

from causely_incidentio.destinations import DestinationConfig, from_env
from causely_incidentio.filters import parse_filters
from causely_incidentio.payload import Notification, parse_notification
from causely_incidentio.settings import Settings
from causely_incidentio.severities import CauselySeverity

OBJECT_ID = "81703742-b81a-43b0-8509-1e9ac718e2e3"


def make_dest(
    *, resolved: str | None = "Resolved", min_severity: str = "High", filters: list[dict[str, Any]] | None = None
) -> DestinationConfig:
    base = from_env(Settings(incident_io_api_token="tok-engine-test", incident_io_resolved_status_name=resolved))
    assert base is not None
    return base.evolve(
        min_severity=CauselySeverity.parse(min_severity),
        filters=parse_filters(json.dumps(filters or []), enabled=True, where="filters"),
    )


def note(
    ntype: str = "ProblemDetected",
    severity: str = "High",
    ts: str = "2026-01-01T00:00:00.000000001Z",
    object_id: str = OBJECT_ID,
    **extra: Any,
) -> Notification:
    return parse_notification({
        "type": ntype, "objectId": object_id, "name": "Malfunction", "severity": severity, "timestamp": ts,
        "entity": {"id": "e1", "name": "checkout", "type": "Service"},
        "labels": {"k8s.cluster.name": "prod", "k8s.namespace.name": "shop"}, **extra,
    })

