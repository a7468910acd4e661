"""Finding objects, pure: names, labels, the receiver's spec rule, and status ⇄ journal record.

One ``Finding`` per destination and Causely ``objectId``. ``spec`` is the latest notification that matters
(written by receivers, guarded by ``resourceVersion``); ``status`` is what exists in incident.io (written by the
leader's reconciler). Nothing here does I/O, so every rule is unit-tested directly.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from causely_incidentio.payload import Notification, NotificationType
from causely_incidentio.sync.engine import TYPE_RANK as ENGINE_TYPE_RANK
from causely_incidentio.sync.records import FindingRecord, State

GROUP = "notifications.causely.ai"
VERSION = "v1alpha1"
PLURAL = "findings"
KIND = "Finding"
API_VERSION = f"{GROUP}/{VERSION}"
PAYLOAD_ENCODING = "zlib+base64"
LABEL_DESTINATION = f"{GROUP}/destination"
LABEL_SOURCE = f"{GROUP}/source"
LABEL_STATE = f"{GROUP}/state"
MANAGED_BY = "causely-incidentio"
ERROR_LIMIT = 512
# Ties between notifications with the same timestamp: a clear wins over an update, an update over a detection
# (one rule for both modes: the standalone engine applies the same ranks).
TYPE_RANK = ENGINE_TYPE_RANK

_INVALID = re.compile(r"[^a-z0-9]+")


def _slug(text: str, limit: int) -> str:
    """Lowercase alphanumerics and single dashes, at most ``limit`` characters, never a dash at either end."""
    return _INVALID.sub("-", text.lower())[:limit].strip("-")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def split_destination_id(destination_id: str) -> tuple[str, str, str]:
    """``secret/<ns>/<name>`` → (source, namespace, name)."""
    source, _, rest = destination_id.partition("/")
    namespace, _, name = rest.partition("/")
    if not (source and namespace and name):
        raise ValueError(f"not a namespaced destination id: {destination_id!r}")
    return source, namespace, name


def finding_name(destination_id: str, object_id: str) -> str:
    """Deterministic and a valid object name: readable prefixes, and a hash of the full pair for uniqueness."""
    _source, _ns, name = split_destination_id(destination_id)
    readable = "-".join(p for p in (_slug(name, 40), _slug(object_id, 60)) if p) or "finding"
    return f"{readable}-{_digest(destination_id, object_id)[:12]}"


def label_value(text: str) -> str:
    """A valid label value (≤ 63 characters) that still names ``text``; long ones end in a short hash."""
    slug = _slug(text, 63)
    if slug == text.lower() and len(text) <= 63:
        return slug
    return f"{_slug(text, 52)}-{_digest(text)[:10]}".strip("-")


def destination_labels(destination_id: str) -> dict[str, str]:
    """The labels selecting one destination's findings (``kubectl get findings -l …``)."""
    source, _ns, name = split_destination_id(destination_id)
    return {LABEL_DESTINATION: label_value(name), LABEL_SOURCE: source}


def label_selector(destination_id: str) -> str:
    return ",".join(f"{k}={v}" for k, v in destination_labels(destination_id).items())


# -- payload ---------------------------------------------------------------------------------------------
def encode_payload(payload: bytes) -> str:
    return base64.b64encode(zlib.compress(payload, 6)).decode("ascii")


def decode_payload(text: str) -> bytes:
    try:
        return zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    except (binascii.Error, zlib.error, ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"payload is not {PAYLOAD_ENCODING}: {exc}") from None


PAYLOAD_BUDGET = 256 * 1024  # encoded payload bytes kept in spec; etcd refuses objects over ~1.5 MiB
TEXT_LIMIT = 1024  # characters of title and entity in spec's plain fields
COMPACT_STRING = 8 * 1024  # when a payload is over budget: strings cut to this many characters...
COMPACT_LIST = 100  # ...and lists to this many items (the summary renders far less than either)


def _compact(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= COMPACT_STRING else value[: COMPACT_STRING - 3] + "..."
    if isinstance(value, list):
        return [_compact(v) for v in value[:COMPACT_LIST]]
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value


def stored_payload(payload: bytes) -> str:
    """The payload as spec keeps it: compressed, and — only when that is still over budget — with its long
    strings and lists cut, so a 1 MiB notification of incompressible text still fits etcd."""
    encoded = encode_payload(payload)
    if len(encoded) <= PAYLOAD_BUDGET:
        return encoded
    compacted = json.dumps(_compact(json.loads(payload)), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return encode_payload(compacted)


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 3] + "..."


# -- spec: what the receiver writes ----------------------------------------------------------------------
def _rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entity(n: Notification) -> str | None:
    if n.entity is None:
        return None
    text = " ".join(p for p in (n.entity.type, n.entity.name) if p)
    return text or None


def notification_fields(n: Notification, received_at: float) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": n.type.value,
        "severity": n.severity.value,
        "timestamp": "" if n.timestamp_ns is None else str(n.timestamp_ns),
        "title": _clip(n.title),
        "receivedAt": _rfc3339(received_at),
    }
    entity = _entity(n)
    if entity:
        fields["entity"] = _clip(entity)
    return fields


def spec_timestamp(spec: Mapping[str, Any]) -> int | None:
    raw = (spec.get("notification") or {}).get("timestamp")
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    return None


def spec_type(spec: Mapping[str, Any]) -> NotificationType | None:
    try:
        return NotificationType(str((spec.get("notification") or {}).get("type")))
    except ValueError:
        return None


@dataclass(frozen=True)
class SpecDecision:
    """What a receiver does with a notification against the Finding's current spec."""

    spec: dict[str, Any] | None  # the new spec to write; None: nothing to write
    reason: str  # new, newer, duplicate, stale


def next_spec(
    current: Mapping[str, Any] | None, destination_id: str, n: Notification, payload: bytes, received_at: float
) -> SpecDecision:
    """The receiver's rule: newer timestamp wins, equal is a duplicate, older is stale.

    A notification without a timestamp counts as newest (arrival order). Equal timestamps of different types are
    ordered by :data:`TYPE_RANK` (a clear wins). A ProblemDetected that follows a ProblemCleared starts the next
    occurrence, and so does a ProblemUpdated that follows one (Causely updates only a live problem: its
    ProblemDetected is late or lost, and when it comes it is older, so stale).
    """
    base = {
        "destination": destination_id,
        "objectId": n.object_id,
        "notification": notification_fields(n, received_at),
        "payload": stored_payload(payload),
        "payloadEncoding": PAYLOAD_ENCODING,
        "payloadSha256": hashlib.sha256(payload).hexdigest(),
    }
    if current is None:
        return SpecDecision({**base, "occurrence": 1}, "new")
    old_ts, new_ts = spec_timestamp(current), n.timestamp_ns
    old_type = spec_type(current)
    if new_ts is None and current.get("payloadSha256") == base["payloadSha256"]:
        return SpecDecision(None, "duplicate")  # no timestamp to order by: the very same body is a resend
    if old_ts is not None and new_ts is not None:
        if new_ts < old_ts:
            return SpecDecision(None, "stale")
        if new_ts == old_ts:
            if old_type is None or TYPE_RANK[n.type] == TYPE_RANK[old_type]:
                return SpecDecision(None, "duplicate")
            if TYPE_RANK[n.type] < TYPE_RANK[old_type]:
                return SpecDecision(None, "stale")
    occurrence = int(current.get("occurrence") or 1)
    if old_type is NotificationType.CLEARED and n.type is not NotificationType.CLEARED:
        occurrence += 1  # detected again; an Updated newer than a clear means its ProblemDetected is late or lost
    return SpecDecision({**base, "occurrence": occurrence}, "newer")


def finding_body(namespace: str, destination_id: str, object_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": finding_name(destination_id, object_id),
            "namespace": namespace,
            "labels": {
                **destination_labels(destination_id),
                LABEL_STATE: State.PENDING.value,
                "app.kubernetes.io/managed-by": MANAGED_BY,
            },
        },
        "spec": dict(spec),
    }


# -- status: what the reconciler writes ------------------------------------------------------------------
def _ts_text(ns: int | None) -> str | None:
    return None if ns is None else str(ns)


def parse_time(text: Any) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def truncate(text: str | None, limit: int = ERROR_LIMIT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def record_from_status(
    destination_id: str, object_id: str, status: Mapping[str, Any] | None, created_at: float = 0.0
) -> FindingRecord | None:
    """The journal record a Finding's status describes; None while the reconciler has written nothing."""
    if not status or not status.get("state"):
        return None
    try:
        state = State(status["state"])
    except ValueError:
        state = State.FAILED
    ts = status.get("lastTimestamp")
    return FindingRecord(
        destination_id=destination_id,
        object_id=object_id,
        state=state,
        occurrence=int(status.get("occurrence") or 1),
        incident_id=status.get("incidentId") or None,
        reference=status.get("reference") or None,
        permalink=status.get("permalink") or None,
        severity=status.get("severity") or None,
        title=status.get("title") or None,
        last_ts_ns=int(ts) if isinstance(ts, str) and ts.lstrip("-").isdigit() else None,
        attempts=int(status.get("attempts") or 0),
        last_error=status.get("lastError") or None,
        created_at=created_at,
        updated_at=parse_time(status.get("lastSyncTime")),
        incident_severity=status.get("incidentSeverity") or None,
        create_attempted=status.get("createAttempted") if isinstance(status.get("createAttempted"), int) else None,
        resolve_attempted=(status.get("resolveAttempted") if isinstance(status.get("resolveAttempted"), int)
                           else None),
    )


def status_from_record(
    record: FindingRecord, *, observed_generation: int | None, now: float, previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The full status for ``record`` (``None`` values remove a field in a merge patch)."""
    synced = observed_generation is not None and record.state is not State.PENDING
    failing = record.last_error is not None and record.state is not State.FAILED
    if record.state is State.FAILED:
        cond = ("False", "Failed", record.last_error or "incident.io refused the action")
    elif failing:
        cond = ("False", "Retrying", record.last_error or "")
    elif synced:
        cond = ("True", "Synced", f"incident.io matches the latest notification ({record.state.value})")
    else:
        cond = ("False", "Pending", "not carried out yet")
    old = next((c for c in (previous or {}).get("conditions") or [] if c.get("type") == "Synced"), None)
    now_text = _rfc3339(now)
    transition = old.get("lastTransitionTime", now_text) if old and old.get("status") == cond[0] else now_text
    condition: dict[str, Any] = {
        "type": "Synced", "status": cond[0], "reason": cond[1], "message": truncate(cond[2], 1024) or "",
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        condition["observedGeneration"] = observed_generation
    status: dict[str, Any] = {
        "state": record.state.value,
        "occurrence": record.occurrence,
        "incidentId": record.incident_id,
        "reference": record.reference,
        "permalink": record.permalink,
        "severity": record.severity,
        "incidentSeverity": record.incident_severity,
        "title": record.title,
        "lastTimestamp": _ts_text(record.last_ts_ns),
        "attempts": record.attempts,
        "lastError": truncate(record.last_error),
        "lastSyncTime": now_text,
        "conditions": [condition],
        "createAttempted": record.create_attempted,
        "resolveAttempted": record.resolve_attempted,
    }
    if observed_generation is not None:
        status["observedGeneration"] = observed_generation
    return status


def resource_version_newer(candidate: str | None, current: str | None) -> bool:
    """Is ``candidate`` a later version than ``current``? (etcd revisions: integers in practice; unknown → yes)."""
    if not candidate or not current:
        return True
    if candidate.isdigit() and current.isdigit():
        return int(candidate) > int(current)
    return candidate != current
