"""The journal in Kubernetes mode: one ``Finding`` object per destination and finding.

Receivers (every replica) write ``spec`` before they answer 202: a create, or a merge patch carrying the
``resourceVersion`` they decided on, so two replicas never overwrite each other (on a conflict: re-read, decide
again). The reconciler (the leader only) treats every Finding whose ``metadata.generation`` differs from
``status.observedGeneration`` as work — level-triggered, so notifications superseded before they were delivered
coalesce — and writes ``status`` guarded by ``resourceVersion``, so a deposed leader never overwrites a newer
result.

Every replica keeps a compact index of its Findings fed by the watch (``observe``): what routing and the
reconciler need, and the compressed payload only while a Finding has work. Counters are kept by the leader
and persisted in the IncidentDestination's status by the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from causely_incidentio.kube import findings as F
from causely_incidentio.payload import Notification, parse_notification
from causely_incidentio.sync.journal import DestinationRefused, HistoryEntry, JournalUnavailable
from causely_incidentio.sync.records import Counters, FindingRecord, Intake, PendingAction, State

log = logging.getLogger(__name__)

MAX_CONFLICTS = 8  # re-read and decide again at most this often per notification, then 503 (the sender retries)
ENDED = frozenset({State.RESOLVED, State.CLOSED_OUTSIDE, State.SKIPPED, State.FAILED, State.CLEARED_UNKNOWN})


class FindingApi(Protocol):
    """The Finding calls the store makes (``KubeApi`` implements them; unit tests use a fake)."""

    async def get_finding(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    async def create_finding(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def patch_finding(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]: ...
    async def patch_finding_status(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]: ...
    async def delete_finding(self, namespace: str, name: str, resource_version: str | None) -> None: ...


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def describe(exc: BaseException) -> str:
    """A short, token-free description of a failed API call (never the request, its headers or body)."""
    status = _status_code(exc)
    if status is not None:
        reason = getattr(exc, "reason", None)
        return f"HTTP {status} {reason}" if isinstance(reason, str) and reason else f"HTTP {status}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__


def is_permanent(exc: BaseException) -> bool:
    """A refusal retrying will not fix (bad request, forbidden, namespace gone, invalid); the rest is transient."""
    return _status_code(exc) in (400, 403, 404, 405, 413, 422)


@dataclass
class Entry:
    """One Finding, as much of it as routing and the reconciler need."""

    namespace: str
    name: str
    destination_id: str
    object_id: str
    uid: str
    resource_version: str
    generation: int
    observed: int | None
    occurrence: int
    spec_type: str | None
    spec_ts: str
    spec_digest: str
    record: FindingRecord | None
    payload: str | None  # compressed, only while there is work
    received_at: float
    created_at: float
    conditions: list[dict[str, Any]] = field(default_factory=list)
    not_before: float = 0.0  # reconciler backoff after a transient failure
    strikes: int = 0  # failures counted against this generation's attempt budget (kept in memory only)

    @property
    def has_work(self) -> bool:
        return self.generation != self.observed

    @property
    def state_label(self) -> str:
        return self.record.state.value if self.record else State.PENDING.value

    def spec_view(self) -> dict[str, Any]:
        """The part of spec the receiver's rule reads."""
        return {"occurrence": self.occurrence, "payloadSha256": self.spec_digest,
                "notification": {"type": self.spec_type, "timestamp": self.spec_ts}}


@dataclass(frozen=True)
class _Work:
    key: tuple[str, str]
    generation: int


class FindingStore:
    """:class:`~causely_incidentio.sync.journal.Journal` over Finding objects."""

    backs_off_per_finding = True  # a finding that fails transiently waits alone; the worker goes on with the rest

    def __init__(
        self,
        api: FindingApi,
        *,
        clock: Callable[[], float] = time.time,
        retry_delay: float = 2.0,
        max_retry_delay: float = 300.0,
    ) -> None:
        self.api = api
        self.clock = clock
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self._entries: dict[tuple[str, str], Entry] = {}
        self._by_dest: dict[str, dict[str, Entry]] = {}  # destination → objectId → entry (per-destination scans)
        self._names: dict[tuple[str, str], tuple[str, str]] = {}
        self._work: dict[int, _Work] = {}
        self._in_flight: dict[tuple[str, str], int] = {}  # finding → the generation the reconciler works on
        # finding → the seq of its action handed out last: an action the worker drops unfinished (paused or
        # reconfigured mid-drain) is replaced, never kept, so ``_work`` stays one entry per finding at most.
        self._issued: dict[tuple[str, str], int] = {}
        self._next_seq = 1
        self._counters: dict[str, Counters] = {}
        self.on_work: Callable[[str], None] | None = None  # wakes the destination's worker (leader)
        self.healthy = True  # False while writes fail for transient reasons (readiness)
        self.writes = 0
        self.conflicts = 0

    # -- the index ------------------------------------------------------------------------------------
    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event (or a write's response): keep the index current, never going back in time."""
        meta = body.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        spec = body.get("spec") or {}
        dest_id, oid = spec.get("destination"), spec.get("objectId")
        if event_type == "DELETED":
            key = self._names.get((ns, name))
            gone = self._entries.get(key) if key is not None else None
            uid = meta.get("uid")
            if gone is not None and (not uid or not gone.uid or gone.uid == uid):  # not a re-created one
                del self._names[(ns, name)]
                self._forget((gone.destination_id, gone.object_id))
            return
        if not isinstance(dest_id, str) or not isinstance(oid, str):
            return
        key = (dest_id, oid)
        rv = str(meta.get("resourceVersion") or "")
        old = self._entries.get(key)
        if old is not None and not F.resource_version_newer(rv, old.resource_version):
            return
        status = body.get("status") or {}
        generation = int(meta.get("generation") or 1)
        observed = status.get("observedGeneration")
        observed = int(observed) if isinstance(observed, int) else None
        created = F.parse_time(meta.get("creationTimestamp"))
        notification = spec.get("notification") or {}
        entry = Entry(
            namespace=ns, name=name, destination_id=dest_id, object_id=oid, uid=str(meta.get("uid") or ""),
            resource_version=rv, generation=generation, observed=observed,
            occurrence=int(spec.get("occurrence") or 1), spec_type=notification.get("type"),
            spec_ts=str(notification.get("timestamp") or ""),
            spec_digest=str(spec.get("payloadSha256") or ""),
            record=F.record_from_status(dest_id, oid, status, created),
            payload=spec.get("payload") if generation != observed else None,
            received_at=F.parse_time(notification.get("receivedAt")) or created,
            created_at=created,
            conditions=list(status.get("conditions") or []),
            not_before=old.not_before if old is not None and old.generation == generation else 0.0,
            strikes=old.strikes if old is not None and old.generation == generation else 0,
        )
        self._entries[key] = entry
        self._by_dest.setdefault(dest_id, {})[oid] = entry
        self._names[(ns, name)] = key
        log.debug("Finding %s/%s: generation %d, observed %s, resourceVersion %s, state %s", ns, name, generation,
                  observed, rv, entry.state_label)
        if entry.has_work and self.on_work is not None:
            self.on_work(dest_id)

    def entry(self, destination_id: str, object_id: str) -> Entry | None:
        return self._entries.get((destination_id, object_id))

    def _forget(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)
        self._in_flight.pop(key, None)
        seq = self._issued.pop(key, None)
        if seq is not None:
            self._work.pop(seq, None)
        of_dest = self._by_dest.get(key[0])
        if of_dest is not None:
            of_dest.pop(key[1], None)
            if not of_dest:
                del self._by_dest[key[0]]

    def entries(self, destination_id: str | None = None) -> list[Entry]:
        if destination_id is None:
            return list(self._entries.values())
        return list(self._by_dest.get(destination_id, {}).values())

    def destination_ids(self) -> set[str]:
        return set(self._by_dest)

    def summary(self, destination_id: str) -> dict[str, int]:
        """Findings, open incidents and findings with work, for the destination's status."""
        total = open_ = work = failed = 0
        for e in self._by_dest.get(destination_id, {}).values():
            total += 1
            work += e.has_work
            if e.record is not None:
                open_ += e.record.has_incident
                failed += e.record.state is State.FAILED
        return {"findings": total, "openIncidents": open_, "pendingFindings": work, "failedFindings": failed}

    def states(self, destination_id: str) -> dict[str, int]:
        """Findings of the destination by state (``pending`` until the reconciler wrote one)."""
        found: dict[str, int] = {}
        for e in self._by_dest.get(destination_id, {}).values():
            found[e.state_label] = found.get(e.state_label, 0) + 1
        return found

    def failing(self, destination_id: str, attempts: int = 3) -> bool:
        """Some Finding's action has failed transiently ``attempts`` times in a row (incident.io keeps refusing)."""
        return any(
            e.has_work and e.record is not None and e.record.last_error is not None and e.record.attempts >= attempts
            for e in self._by_dest.get(destination_id, {}).values()
        )

    def retry_wait(self, failures: int) -> float:
        """The backoff after a finding's ``failures``-th failed attempt (the worker's attempt budget reads it)."""
        return float(min(self.max_retry_delay, self.retry_delay * 2 ** min(max(failures - 1, 0), 16)))

    def forget_counters(self, destination_id: str) -> None:
        """A destination removed for good: its counters go with it (a re-created one is seeded from status)."""
        self._counters.pop(destination_id, None)

    def seed_counters(self, destination_id: str, counters: Mapping[str, Any]) -> None:
        """Continue the counters a previous leader persisted in the destination's status."""
        c = Counters()
        for name in c.as_dict():
            with contextlib.suppress(TypeError, ValueError):
                setattr(c, name, int(counters.get(name) or 0))
        self._counters[destination_id] = c

    # -- Journal: intake (every replica) ---------------------------------------------------------------
    async def accept(self, intakes: Sequence[Intake]) -> None:
        """Write each intake's Finding; returns once all are written.

        Raises :class:`JournalUnavailable` when any write failed for a transient reason (the receiver answers
        503 and Causely retries: the ones already written see a duplicate), else :class:`DestinationRefused`
        naming the destinations that refused for good.
        """
        results = await asyncio.gather(*(self._upsert(i) for i in intakes), return_exceptions=True)
        refused: dict[str, str] = {}
        transient: list[str] = []
        for intake, result in zip(intakes, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                if is_permanent(result):
                    refused[intake.destination_id] = describe(result)
                else:
                    transient.append(f"{intake.destination_id}: {describe(result)}")
        if transient:
            self.healthy = False
            raise JournalUnavailable("cannot write Findings (" + "; ".join(transient) + ")")
        self.healthy = True
        if refused:
            raise DestinationRefused(refused)

    async def _upsert(self, intake: Intake) -> str:
        n: Notification = intake.notification or parse_notification(intake.payload)
        _source, namespace, _name = F.split_destination_id(intake.destination_id)
        name = F.finding_name(intake.destination_id, intake.object_id)
        entry = self.entry(intake.destination_id, intake.object_id)
        current: dict[str, Any] | None = entry.spec_view() if entry else None
        rv = entry.resource_version if entry else None
        for _attempt in range(MAX_CONFLICTS):
            decision = F.next_spec(current, intake.destination_id, n, intake.payload, intake.received_at)
            log.debug("Finding %s/%s: %s %s is %s (resourceVersion %s)", namespace, name, n.type.value,
                      n.timestamp_ns, decision.reason, rv)
            if decision.spec is None:
                return decision.reason
            try:
                if rv is None:
                    body = F.finding_body(namespace, intake.destination_id, intake.object_id, decision.spec)
                    written = await self.api.create_finding(namespace, body)
                else:
                    spec = dict(decision.spec)
                    notification = dict(spec["notification"])
                    notification.setdefault("entity", None)  # a merge patch keeps what it does not null
                    spec["notification"] = notification
                    written = await self.api.patch_finding(
                        namespace, name, {"metadata": {"resourceVersion": rv}, "spec": spec}
                    )
                self.writes += 1
                self.observe(None, written)
                return decision.reason
            except Exception as exc:
                code = _status_code(exc)
                if code not in (404, 409):
                    raise
                if code == 404 and rv is None:
                    raise  # the namespace is gone: a permanent refusal
                self.conflicts += 1
                fresh = await self.api.get_finding(namespace, name)
                if fresh is None:
                    current, rv = None, None
                else:
                    self.observe(None, fresh)
                    current = fresh.get("spec") or {}
                    rv = str((fresh.get("metadata") or {}).get("resourceVersion") or "")
        raise JournalUnavailable(f"Finding {namespace}/{name} kept changing under {MAX_CONFLICTS} writes")

    async def has_pending(self, destination_id: str, object_id: str) -> bool:
        """Does this Finding have work (a generation not carried out yet, backing off included)?"""
        e = self._entries.get((destination_id, object_id))
        return e is not None and e.has_work

    def is_known(self, destination_id: str, object_id: str) -> bool:
        return (destination_id, object_id) in self._entries

    # -- Journal: reads (the leader's reconciler) ------------------------------------------------------
    async def pending(self, destination_id: str, limit: int = 500) -> list[PendingAction]:
        """Findings with work, oldest notification first; each once, at its latest spec."""
        now = self.clock()
        ready = sorted(
            (e for e in self._by_dest.get(destination_id, {}).values()
             if e.has_work and e.payload and e.not_before <= now),
            key=lambda e: e.received_at,
        )[:limit]
        actions: list[PendingAction] = []
        for e in ready:
            try:
                payload = F.decode_payload(e.payload or "")
            except ValueError as exc:
                log.error("Finding %s/%s: %s", e.namespace, e.name, exc)
                payload = b"{}"  # the worker records it as unreadable and moves on
            seq = self._next_seq
            self._next_seq += 1
            replaced = self._issued.pop((e.destination_id, e.object_id), None)
            if replaced is not None:
                self._work.pop(replaced, None)
            self._issued[(e.destination_id, e.object_id)] = seq
            self._work[seq] = _Work((e.destination_id, e.object_id), e.generation)
            self._in_flight[(e.destination_id, e.object_id)] = e.generation
            attempts = e.record.attempts if e.record and e.record.last_error else 0
            actions.append(PendingAction(seq, e.destination_id, e.object_id, payload, e.received_at,
                                         attempts, e.record.last_error if e.record else None, e.occurrence,
                                         e.strikes))
        return actions

    async def pending_count(self, destination_id: str | None = None) -> int:
        """Findings with work that may be tried now (one backing off is woken when its wait is over)."""
        now = self.clock()
        return sum(
            1 for e in self.entries(destination_id)
            if e.has_work and e.payload and e.not_before <= now
        )

    async def backlog(self, destination_id: str) -> tuple[int, float, float | None]:
        """(Findings with work — backing off included —, age of the oldest, None: the store wakes its worker)."""
        count = sum(1 for e in self.entries(destination_id) if e.has_work and e.payload)
        return count, self.oldest_pending_age(destination_id), None

    def oldest_pending_age(self, destination_id: str) -> float:
        times = [e.received_at for e in self.entries(destination_id) if e.has_work and e.payload]
        return max(0.0, self.clock() - min(times)) if times else 0.0

    async def record(self, destination_id: str, object_id: str) -> FindingRecord | None:
        e = self.entry(destination_id, object_id)
        return e.record.copy() if e is not None and e.record is not None else None

    async def records(self, destination_id: str | None = None) -> list[FindingRecord]:
        return [e.record.copy() for e in self.entries(destination_id) if e.record is not None]

    def counter_values(self, destination_id: str) -> dict[str, int]:
        counters = self._counters.get(destination_id)
        return counters.as_dict() if counters else {}

    async def counters(self, destination_id: str) -> Counters:
        return Counters(**self._counters.setdefault(destination_id, Counters()).as_dict())

    # -- Journal: writes (the leader's reconciler) -----------------------------------------------------
    async def complete(
        self, action: PendingAction, record: FindingRecord, counter: str | None, history: HistoryEntry
    ) -> None:
        work = self._work.pop(action.seq, None)
        generation = work.generation if work else None
        self._in_flight.pop((record.destination_id, record.object_id), None)
        self._issued.pop((record.destination_id, record.object_id), None)
        def build(fresh: FindingRecord | None) -> FindingRecord:
            # A resolve mark another leader wrote meanwhile (for a later generation) survives a result that is
            # not that resolve's: found resolved later, the incident is known to be the operator's doing.
            if (fresh is not None and fresh.resolve_attempted is not None and record.resolve_attempted is None
                    and record.state is not State.RESOLVED and fresh.resolve_attempted == record.occurrence):
                return record.copy(resolve_attempted=fresh.resolve_attempted)
            return record

        written = await self._write_status(
            record.destination_id, record.object_id, build, generation, reset_backoff=True, carried_out=True,
        )
        if written and counter is not None:
            self._counters.setdefault(record.destination_id, Counters()).add(counter)

    async def save_record(self, record: FindingRecord, counter: str | None, history: HistoryEntry) -> None:
        """The periodic re-check found a human closed the incident: record it unless a newer result is there."""
        e = self.entry(record.destination_id, record.object_id)
        seen = e.observed if e else None

        def build(fresh: FindingRecord | None) -> FindingRecord | None:
            if fresh is not None and fresh.incident_id != record.incident_id:
                return None  # the Finding moved on (a new occurrence) since the re-check read it
            if fresh is not None and (fresh.resolve_attempted or 0) >= record.occurrence:
                return None  # a leader sent this occurrence's resolve meanwhile: the end is ours, not a human's
            return record

        written = await self._write_status(record.destination_id, record.object_id, build, seen,
                                           reset_backoff=False, newer_only=True)
        if written and counter is not None:
            self._counters.setdefault(record.destination_id, Counters()).add(counter)

    async def intend_create(self, record: FindingRecord, occurrence: int) -> None:
        """Write-ahead before a create: status says a create was sent for ``occurrence``.

        If the leader dies before recording the outcome and a clear supersedes the detection, the next leader
        sees the marker and replays the create's key (the incident may exist) instead of assuming none does.
        Written on top of the status as it is, and never over a newer result.
        """
        key = (record.destination_id, record.object_id)

        def build(fresh: FindingRecord | None) -> FindingRecord:
            return (fresh or record).copy(create_attempted=occurrence)

        await self._write_status(*key, build, self._in_flight.get(key), reset_backoff=False)

    async def intend_resolve(self, record: FindingRecord) -> None:
        """Write-ahead before a resolve: an incident the next leader finds resolved with this mark is the
        operator's doing (counted ``resolved``), not a human's (``closed-outside``)."""
        key = (record.destination_id, record.object_id)

        def build(fresh: FindingRecord | None) -> FindingRecord:
            return (fresh or record).copy(resolve_attempted=record.occurrence)

        await self._write_status(*key, build, self._in_flight.get(key), reset_backoff=False)

    async def retry_later(
        self, action: PendingAction, error: str, *, delay: float | None = None, strike: bool = False
    ) -> None:
        """Back this Finding off (the store's own schedule; ``delay`` is the SQLite journal's) and count the
        failure; ``strike`` counts it against the attempt budget too."""
        work = self._work.pop(action.seq, None)
        key = (action.destination_id, action.object_id)
        self._in_flight.pop(key, None)
        self._issued.pop(key, None)
        e = self._entries.get(key)
        if e is None:
            return
        e.strikes = action.strikes + int(strike)
        attempts = action.attempts + 1
        wait = self.retry_wait(attempts)
        e.not_before = self.clock() + wait
        if self.on_work is not None:  # wake the worker when the wait is over (it sleeps while nothing is due)
            asyncio.get_running_loop().call_later(wait + 0.05, self.on_work, action.destination_id)

        def build(fresh: FindingRecord | None) -> FindingRecord:
            # only the attempt count and the error change, on top of the status as it is now
            base = fresh or FindingRecord(action.destination_id, action.object_id, occurrence=e.occurrence)
            return base.copy(attempts=attempts, last_error=error)

        with contextlib.suppress(Exception):  # informational: the next attempt writes again
            await self._write_status(*key, build, work.generation if work else None, reset_backoff=False)

    async def _write_status(
        self,
        destination_id: str,
        object_id: str,
        build: Callable[[FindingRecord | None], FindingRecord | None],
        generation: int | None,
        *,
        reset_backoff: bool,
        newer_only: bool = False,
        carried_out: bool = False,
    ) -> bool:
        """Write ``build(current record)`` as the Finding's status for ``generation``; False when it did not.

        Guarded by ``resourceVersion``: on a conflict the Finding is read again and the record built again on
        top of what is there. A status that already observed ``generation`` or a later one wins (with
        ``newer_only``, only a later one): a deposed leader finishing late never overwrites a newer result.
        Only ``carried_out`` writes set ``observedGeneration`` (the others annotate: attempts, markers).
        A receiver changing spec meanwhile does not make the result less true — incident.io is in that state —
        so it is written with the generation it carried out, and the new spec stays work.
        """
        key = (destination_id, object_id)
        delay = 0.2
        while True:
            e = self._entries.get(key)
            if e is None:
                log.warning("Finding for %s %s is gone; result not recorded", *key)
                return False
            if generation is not None and e.observed is not None and (
                e.observed > generation or (e.observed == generation and not newer_only)
            ):
                return False
            record = build(e.record)
            if record is None:
                return False
            status = F.status_from_record(
                record, observed_generation=generation if carried_out else e.observed, now=self.clock(),
                previous={"conditions": e.conditions},
            )
            if not carried_out:
                status.pop("observedGeneration", None)  # an annotation never marks work as done
            try:
                written = await self.api.patch_finding_status(
                    e.namespace, e.name, {"metadata": {"resourceVersion": e.resource_version}, "status": status}
                )
            except Exception as exc:
                code = _status_code(exc)
                if code == 404:
                    self._forget(key)
                    self._names.pop((e.namespace, e.name), None)
                    return False
                if code == 409:
                    self.conflicts += 1
                    fresh = await self.api.get_finding(e.namespace, e.name)
                    if fresh is None:
                        return False
                    self.observe(None, fresh)
                    continue
                log.warning("Finding %s/%s: status write failed (%s); retrying in %.1fs",
                            e.namespace, e.name, describe(exc), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.writes += 1
            if reset_backoff:
                e.not_before = 0.0
            self.observe(None, written)
            after = self._entries.get(key)
            if after is not None and self._label_stale(written):
                await self._set_state_label(after)
            return True

    @staticmethod
    def _label_stale(body: Mapping[str, Any]) -> bool:
        labels = (body.get("metadata") or {}).get("labels") or {}
        state = (body.get("status") or {}).get("state")
        return bool(state) and labels.get(F.LABEL_STATE) != state

    async def _set_state_label(self, e: Entry) -> None:
        try:
            written = await self.api.patch_finding(
                e.namespace, e.name, {"metadata": {"labels": {F.LABEL_STATE: e.state_label}}}
            )
            self.observe(None, written)
        except Exception as exc:  # a label is a convenience for selectors; status is the truth
            log.info("Finding %s/%s: state label not updated (%s)", e.namespace, e.name, describe(exc))

    # -- housekeeping (the leader) ---------------------------------------------------------------------
    async def collect(
        self, *, live_destinations: set[str], gone_since: Mapping[str, float], grace: float, retention: float
    ) -> int:
        """Delete ended Findings older than ``retention`` and every Finding of a destination gone ≥ ``grace``.

        A Finding with work, or with a live incident of a live destination, is never deleted. Deletes carry
        the ``resourceVersion`` seen, so a Finding a receiver just changed survives.
        """
        now = self.clock()
        doomed: list[Entry] = []
        for e in list(self._entries.values()):
            if e.destination_id not in live_destinations:
                since = gone_since.get(e.destination_id)
                if since is not None and now - since >= grace:
                    doomed.append(e)
                continue
            if e.has_work or e.record is None or e.record.state not in ENDED:
                continue
            if now - (e.record.updated_at or e.created_at) >= retention:
                doomed.append(e)
        deleted = 0
        for e in doomed:
            try:
                await self.api.delete_finding(e.namespace, e.name, e.resource_version)
                deleted += 1
                self.observe("DELETED", {"metadata": {"namespace": e.namespace, "name": e.name}})
            except Exception as exc:
                log.info("Finding %s/%s not deleted (%s)", e.namespace, e.name, describe(exc))
        return deleted

    async def close(self) -> None:
        self._work.clear()
        self._issued.clear()
