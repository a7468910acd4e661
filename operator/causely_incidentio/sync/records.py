"""What the journal stores: accepted notifications waiting for a worker, and one record per finding.

These are plain dataclasses so the SQLite and Kubernetes-status journals can encode them compactly and the
engine can stay pure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class State(StrEnum):
    """Where a finding stands in one destination. ``OPEN`` and ``CLEARED_LEFT_OPEN`` have a live incident."""

    PENDING = "pending"  # accepted, no action applied yet
    OPEN = "open"  # incident created and not resolved
    CLEARED_LEFT_OPEN = "cleared"  # Causely cleared it, but no resolved status is configured
    RESOLVED = "resolved"  # the operator moved the incident to the resolved status
    CLOSED_OUTSIDE = "closed-outside"  # a human resolved/closed it in incident.io; never edited again
    SKIPPED = "skipped"  # below the destination's minimum severity: no incident
    CLEARED_UNKNOWN = "cleared-unknown"  # a clear for a finding with no incident: remembered for ordering
    FAILED = "failed"  # a permanent error prevented creating the incident


HAS_INCIDENT = frozenset({State.OPEN, State.CLEARED_LEFT_OPEN})
ENDED = frozenset({State.RESOLVED, State.CLOSED_OUTSIDE})


@dataclass
class FindingRecord:
    """One destination's record of one Causely finding (objectId): what the operator did about it."""

    destination_id: str
    object_id: str
    state: State = State.PENDING
    occurrence: int = 1
    incident_id: str | None = None
    reference: str | None = None
    permalink: str | None = None
    severity: str | None = None  # the Causely severity last applied
    title: str | None = None
    last_ts_ns: int | None = None  # newest notification timestamp applied (ordering)
    attempts: int = 0
    last_error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    incident_severity: str | None = None  # the incident.io severity given (shown on Findings; not in SQLite)
    # Kubernetes: the occurrence whose create was sent but whose outcome is not recorded yet (a write-ahead
    # marker). A superseding clear then replays that create's key instead of assuming no incident exists.
    create_attempted: int | None = None
    # The occurrence whose resolve was sent but whose outcome is not recorded yet (write-ahead, as above): an
    # incident found resolved with this marker set was resolved by the operator, not closed by a human.
    resolve_attempted: int | None = None
    last_type: str | None = None  # type of the newest notification applied (ties of equal timestamps)
    last_digest: str | None = None  # sha256 of the newest body applied (a resend without a timestamp)

    @property
    def has_incident(self) -> bool:
        return self.state in HAS_INCIDENT and self.incident_id is not None

    def copy(self, **changes: object) -> FindingRecord:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Intake:
    """An accepted notification routed to one destination; durable before the receiver answers 202."""

    destination_id: str
    object_id: str
    payload: bytes  # the notification as received (validated JSON), re-parsed by the worker
    received_at: float
    notification: Any = None  # the parsed Notification, when the journal can use it (Kubernetes Findings)


@dataclass(frozen=True)
class PendingAction:
    """An :class:`Intake` as stored, with its journal sequence number (arrival order per destination)."""

    seq: int
    destination_id: str
    object_id: str
    payload: bytes
    received_at: float
    attempts: int = 0
    last_error: str | None = None
    occurrence: int | None = None  # Kubernetes mode: the Finding's spec.occurrence (the receivers own it)
    strikes: int = 0  # failures counted against the action's attempt budget (see sync/worker.py)


@dataclass
class Counters:
    """Per-destination totals shown in status and metrics."""

    created: int = 0
    updated: int = 0
    resolved: int = 0
    skipped: int = 0
    failed: int = 0
    ignored: int = 0  # duplicates, stale and no-op notifications

    def add(self, name: str, n: int = 1) -> None:
        setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


COUNTER_NAMES = tuple(f.name for f in dataclasses.fields(Counters))
