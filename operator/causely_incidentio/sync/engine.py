"""The lifecycle decision table: what one notification means for one destination's record of a finding.

Pure: no I/O, no clock. The worker (``sync/worker.py``) carries the decision out against incident.io and
writes the resulting record; this module only decides. The table (also in ``docs/lifecycle.md``):

====  ===========================  =================  ================================  =====================
 #    record (this destination)    notification       condition                         decision
====  ===========================  =================  ================================  =====================
 1    any                          any                older than the newest applied,    IGNORE ``stale``
                                                      or as old and of a lower rank
 2    incident open                Detected/Updated   same timestamp as last applied    IGNORE ``duplicate``
      any                          no timestamp       the same body as last applied     IGNORE ``duplicate``
 3    incident open                Detected           same severity, state open         IGNORE ``duplicate``
 4    incident open                Detected           severity changed, or it had       UPDATE
                                                      been cleared (left open)
 5    incident open                Updated            —                                 UPDATE
 6    incident open                Cleared            resolved status configured        RESOLVE
 7    incident open                Cleared            no resolved status                MARK_CLEARED
 8    no incident                  Cleared            —                                 IGNORE ``no-incident``
 9    no incident                  Detected/Updated   the filters reject it             SKIP ``filtered``
 10   no incident                  Detected/Updated   below ``minSeverity``             SKIP ``below-threshold``
 11   no incident                  Detected/Updated   otherwise                         CREATE
 12   incident ended               Updated            resolved, or closed by a human,   IGNORE ``ended-...``
                                                      and not after a Cleared
 13   create sent, not recorded    Cleared            —                                 RECOVER
====  ===========================  =================  ================================  =====================

Rank (ties of equal timestamps, the same rule as the Kubernetes receivers' ``findings.TYPE_RANK``): Detected <
Updated < Cleared, so a clear and a detection stamped alike end cleared, whatever order they arrive in. A
notification without a timestamp is the newest (arrival order), unless its body is the very one last applied.

"Incident open" means the record holds an incident the operator created and has not seen resolved (states
``open`` and ``cleared``). Rows 2–7 ignore filters and the threshold on purpose: once an incident exists, every
later notification for that finding reaches it, so a clear reported at a lower severity never strands it.
Rows 9–11 move to occurrence ``n + 1`` when the previous incident for the finding was resolved or closed and a
ProblemDetected arrives (a re-detection opens a new incident with a new idempotency key; an Updated is row 12,
unless the last notification applied was a ProblemCleared: an Updated newer than a clear means Causely detected
the problem again, its ProblemDetected late or lost), and keep the occurrence otherwise (a retried or previously
failed create must reuse its key).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from causely_incidentio.destinations import DestinationConfig
from causely_incidentio.payload import Notification, NotificationType
from causely_incidentio.severities import meets_threshold
from causely_incidentio.sync.records import ENDED, FindingRecord, State

TYPE_RANK: Final = {NotificationType.DETECTED: 0, NotificationType.UPDATED: 1, NotificationType.CLEARED: 2}
"""Order of notifications with equal timestamps (kube/findings.py uses the same)."""


class Kind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    RESOLVE = "resolve"
    MARK_CLEARED = "mark-cleared"
    RECOVER = "recover"  # replay an unrecorded create by its key, then carry the clear out
    SKIP = "skip"
    IGNORE = "ignore"


@dataclass(frozen=True)
class Decision:
    kind: Kind
    reason: str
    occurrence: int
    row: int

    @property
    def calls_incident_io(self) -> bool:
        return self.kind in (Kind.CREATE, Kind.UPDATE, Kind.RESOLVE, Kind.RECOVER)


def idempotency_key(destination_id: str, object_id: str, occurrence: int) -> str:
    """Same on every retry and across restarts; a new occurrence (re-detection) gets a new key."""
    return f"causely-incidentio/{destination_id}/{object_id}/{occurrence}"


def decide_for_occurrence(
    record: FindingRecord | None, n: Notification, dest: DestinationConfig, occurrence: int | None,
    digest: str | None = None,
) -> Decision:
    """:func:`decide` when the receivers own the occurrence (Kubernetes Findings: ``spec.occurrence``).

    Only a ProblemDetected that follows a ProblemCleared starts a new occurrence, and the receiver has counted
    it already, so:

    - a newer occurrence than the record's starts afresh — except that a live incident carries over (the
      clear in between was superseded before it was delivered: the problem flapped, one incident tells it);
    - an Updated or Detected for the occurrence whose incident already ended (we resolved it, or a human
      closed, declined or merged it) is recorded and not acted on (row 12): a human's decision stands.
    """
    if (record is not None and digest is not None and n.timestamp_ns is None
            and record.last_digest == digest):
        return Decision(Kind.IGNORE, "duplicate", record.occurrence, 2)  # a resend: no timestamp to order by
    if occurrence is None:
        return decide(record, n, dest)
    if record is None:
        record = FindingRecord(dest.id, n.object_id, occurrence=occurrence) if occurrence > 1 else None
    elif occurrence > record.occurrence:
        if (not record.has_incident and record.state not in ENDED
                and record.create_attempted == record.occurrence):
            # The earlier occurrence's create was sent and its outcome never recorded (another leader): that
            # incident may be live. Replay its key — then resolve it for a clear, or carry it over (row 13/11).
            if n.type is NotificationType.CLEARED:
                return Decision(Kind.RECOVER, "unrecorded-create", record.occurrence, 13)
            return decide(record, n, dest)
        if record.has_incident:
            record = record.copy(occurrence=occurrence)
        else:
            record = FindingRecord(
                record.destination_id, record.object_id, occurrence=occurrence, last_ts_ns=record.last_ts_ns,
                created_at=record.created_at,
                # a create already sent for this occurrence (by a leader whose result is not recorded) stays
                # known, so a clear replays its key (row 13) instead of leaving the incident live
                create_attempted=record.create_attempted if record.create_attempted == occurrence else None,
            )
    elif record.state in ENDED and n.type is not NotificationType.CLEARED:
        return Decision(Kind.IGNORE, "ended-this-occurrence", record.occurrence, 12)
    elif (n.type is NotificationType.CLEARED and not record.has_incident
          and record.create_attempted == record.occurrence):
        # A create was sent for this occurrence and its outcome never recorded (the leader died between the
        # two): the incident may exist. Replay the create by its key, then resolve what it returns.
        return Decision(Kind.RECOVER, "unrecorded-create", record.occurrence, 13)
    return decide(record, n, dest)


def decide(record: FindingRecord | None, n: Notification, dest: DestinationConfig) -> Decision:
    """Apply the table above. ``record`` is this destination's record for ``n.object_id``, if any."""
    occurrence = record.occurrence if record else 1
    last_ts = record.last_ts_ns if record else None
    ts = n.timestamp_ns

    if last_ts is not None and ts is not None and ts < last_ts:
        return Decision(Kind.IGNORE, "stale", occurrence, 1)
    if (record is not None and ts is not None and ts == last_ts and record.last_type is not None
            and TYPE_RANK[n.type] < TYPE_RANK.get(NotificationType(record.last_type), 0)):
        return Decision(Kind.IGNORE, "stale", occurrence, 1)  # stamped alike, but of a lower rank
    if (record is not None and n.type is NotificationType.CLEARED and not record.has_incident
            and record.state not in ENDED and record.create_attempted == record.occurrence):
        # A create was sent for this occurrence and its outcome never recorded (abandoned, or a crash between
        # the two): the incident may exist. Replay the create by its key, then resolve what it returns.
        return Decision(Kind.RECOVER, "unrecorded-create", occurrence, 13)

    if (record is not None and n.type is NotificationType.CLEARED and record.state is State.CLOSED_OUTSIDE
            and record.incident_id and record.resolve_attempted == occurrence and dest.resolved_status_name):
        # Recorded as closed by a human, but this occurrence's resolve was sent (by another leader, its answer
        # unrecorded): the resolve looks first, and finds the incident resolved by the operator (row 6).
        return Decision(Kind.RESOLVE, "cleared-resolve-unrecorded", occurrence, 6)
    if record is not None and record.has_incident:
        if n.type is NotificationType.CLEARED:
            if dest.resolved_status_name:
                return Decision(Kind.RESOLVE, "cleared", occurrence, 6)
            return Decision(Kind.MARK_CLEARED, "cleared-no-resolved-status", occurrence, 7)
        if ts is not None and ts == last_ts:
            return Decision(Kind.IGNORE, "duplicate", occurrence, 2)
        if n.type is NotificationType.DETECTED:
            if record.state is State.OPEN and n.severity.value == record.severity:
                return Decision(Kind.IGNORE, "duplicate", occurrence, 3)
            return Decision(Kind.UPDATE, "detected-again", occurrence, 4)
        return Decision(Kind.UPDATE, "updated", occurrence, 5)

    if n.type is NotificationType.CLEARED:
        return Decision(Kind.IGNORE, "no-incident", occurrence, 8)
    if record is not None and record.state in ENDED:
        # A new detection starts a new occurrence; an update for a problem whose incident was resolved or that a
        # human closed, declined or merged is recorded, not acted on — the human's decision stands. Except an
        # Updated newer than the ProblemCleared last applied: Causely updates only a live problem, so it was
        # detected again and that ProblemDetected is late or lost (waiting for it would leave it unpaged).
        if n.type is NotificationType.UPDATED and record.last_type != NotificationType.CLEARED.value:
            return Decision(Kind.IGNORE, "ended-this-occurrence", occurrence, 12)
        # A re-detection: a new occurrence, so a later create never reuses the ended incident's key.
        occurrence += 1
    if not dest.accepts(n):
        return Decision(Kind.SKIP, "filtered", occurrence, 9)
    if not meets_threshold(n.severity, dest.min_severity):
        return Decision(Kind.SKIP, "below-threshold", occurrence, 10)
    return Decision(Kind.CREATE, "detected" if n.type is NotificationType.DETECTED else "raised", occurrence, 11)
