"""Pure builders for an IncidentDestination's status: KEP-1623 conditions and the printer-column fields.

``lastTransitionTime`` changes only when a condition's status changes, as the Kubernetes API conventions ask,
so repeated status writes do not churn it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from causely_incidentio.sync.worker import Health

CONDITION_TYPES = ("ConfigValid", "Authenticated", "Ready")
REASON = re.compile(r"[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?")  # metav1.Condition's reason pattern


def now_iso(clock_seconds: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(clock_seconds, dt.UTC) if clock_seconds else dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _word(value: bool | None) -> str:
    return "Unknown" if value is None else ("True" if value else "False")


def desired_conditions(health: Health) -> list[tuple[str, str, str, str]]:
    """(type, status, reason, message) for each condition, from the worker's health."""
    if not health.config_valid:
        auth = ("Unknown", "ConfigInvalid", "not checked: the configuration is invalid")
    else:
        auth = (_word(health.authenticated), health.auth_reason, health.auth_message)
    return [
        ("ConfigValid", _word(health.config_valid), health.config_reason, health.config_message or ""),
        ("Authenticated", *auth),
        ("Ready", _word(health.ready), health.reason, health.message),
    ]


def build_conditions(
    health: Health, *, generation: int | None, previous: Sequence[Mapping[str, Any]] | None, now: str
) -> list[dict[str, Any]]:
    before = {c.get("type"): c for c in previous or []}
    out: list[dict[str, Any]] = []
    for ctype, status, reason, message in desired_conditions(health):
        old = before.get(ctype)
        transition = (old.get("lastTransitionTime") or now) if old and old.get("status") == status else now
        reason = reason if REASON.fullmatch(reason or "") else ""  # the CRD's metav1.Condition reason pattern
        cond: dict[str, Any] = {  # every field the metav1.Condition schema requires, always set
            "type": ctype, "status": status, "reason": reason or "Unknown", "message": message[:1024],
            "lastTransitionTime": transition,
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        out.append(cond)
    return out


def status_fields(
    health: Health,
    *,
    generation: int | None,
    source: str,
    mode: str | None,
    previous_conditions: Sequence[Mapping[str, Any]] | None,
    now: str,
) -> dict[str, Any]:
    """Every non-journal status field the operator owns (the journal adds incidents, pending, counters)."""
    fields: dict[str, Any] = {
        "conditions": build_conditions(health, generation=generation, previous=previous_conditions, now=now),
        "source": source,
        "message": health.message if health.ready else f"{health.reason}: {health.message}",
    }
    if generation is not None:
        fields["observedGeneration"] = generation
    if mode:
        fields["mode"] = mode
    if health.last_sync:
        fields["lastSyncTime"] = now_iso(health.last_sync)
    return fields
