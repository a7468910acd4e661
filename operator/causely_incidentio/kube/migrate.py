"""Carry the old status journal (``status.pending`` / ``status.incidents`` of 0.1) over into Findings, once.

Versions before Findings kept each destination's journal as encoded strings in its IncidentDestination status
(``kube/codec.py`` reads them). On start, every replica turns what such a status holds into Findings, then
clears the old maps; it is idempotent, so two replicas doing it at once, or a crash half-way, only repeat work:

- a record becomes a Finding whose status is the record (``observedGeneration`` = its generation, so nothing
  is redone) and whose spec says what the record implies (no payload: the next notification brings one);
- a pending notification goes through the receivers' own rule (newer wins, equal is a duplicate), so it
  becomes the Finding's work exactly once, with the idempotency key it would have had.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from causely_incidentio.kube import codec
from causely_incidentio.kube import findings as F
from causely_incidentio.kube.findingstore import FindingApi, FindingStore
from causely_incidentio.payload import parse_notification
from causely_incidentio.sync.records import FindingRecord, Intake, State

log = logging.getLogger(__name__)

LEGACY_FIELDS = ("pending", "incidents", "overflow", "pendingActions")


class StatusPatcher(Protocol):
    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None: ...


def has_legacy_status(body: Mapping[str, Any]) -> bool:
    status = body.get("status") or {}
    return any(status.get(f) for f in ("pending", "incidents", "overflow"))


def _spec_for_record(record: FindingRecord) -> dict[str, Any]:
    cleared = record.state in (State.CLEARED_LEFT_OPEN, State.RESOLVED, State.CLEARED_UNKNOWN)
    return {
        "destination": record.destination_id,
        "objectId": record.object_id,
        "occurrence": record.occurrence,
        "notification": {
            "type": "ProblemCleared" if cleared else "ProblemDetected",
            "severity": record.severity or "Unknown",
            "timestamp": "" if record.last_ts_ns is None else str(record.last_ts_ns),
            "title": record.title or record.reference or record.object_id,
        },
    }


async def migrate(
    api: FindingApi, patcher: StatusPatcher, store: FindingStore, destination_id: str, body: Mapping[str, Any]
) -> tuple[int, int]:
    """Findings for every record and pending notification of ``body``'s old status; returns (records, pending)."""
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    status = body.get("status") or {}
    records = 0
    for oid, value in (status.get("incidents") or {}).items():
        try:
            record = codec.decode_record(destination_id, oid, value)
        except (codec.CodecError, TypeError) as exc:
            log.warning("%s/%s: old record %s not carried over: %s", namespace, name, oid[:80], exc)
            continue
        known = store.entry(destination_id, oid)
        if known is not None and known.record is not None:
            continue  # carried over already (a Finding without status is one a crash left half-way)
        obj = F.finding_body(namespace, destination_id, oid, _spec_for_record(record))
        try:
            created = await api.create_finding(namespace, obj)
        except Exception as exc:
            if getattr(exc, "status", None) != 409:
                raise
            existing = await api.get_finding(namespace, obj["metadata"]["name"])
            if existing is None or (existing.get("status") or {}).get("state"):
                continue
            created = existing
        generation = int(created["metadata"].get("generation") or 1)
        written = await api.patch_finding_status(namespace, obj["metadata"]["name"], {
            "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
            "status": F.status_from_record(record, observed_generation=generation, now=store.clock()),
        })
        store.observe(None, written)
        records += 1
    pending = 0
    entries = sorted((status.get("pending") or {}).items())
    for key, value in entries:
        try:
            action = codec.decode_pending(destination_id, key, value)
            n = parse_notification(action.payload)
        except Exception as exc:
            log.warning("%s/%s: old pending entry %s not carried over: %s", namespace, name, key[:20], exc)
            continue
        await store.accept([Intake(destination_id, action.object_id, action.payload, action.received_at, n)])
        pending += 1
    await patcher.patch_status(namespace, name, dict.fromkeys(LEGACY_FIELDS))
    log.info("%s/%s: carried %d record(s) and %d pending notification(s) over into Findings",
             namespace, name, records, pending)
    return records, pending
