"""The journal in Kubernetes mode: each destination's accepted actions and records live in its own status.

Why status: it is the one durable store the operator already has (no volume, no database), and it is what
``kubectl get incidentdestination -o yaml`` shows. What that costs was measured on a real API server, and
shapes this module:

- every merge patch rewrites the whole object, so patches are **group-committed**: one writer task per
  destination sends everything that changed since its last patch in one JSON merge patch (removed entries as
  ``null``), and ``accept`` returns only once a patch carrying its entries succeeded. Concurrent patchers on
  one object are slower than one writer;
- entries are short strings (see :mod:`causely_incidentio.kube.codec`) in atomic maps, which keeps patches
  cheap and managedFields tiny;
- resolved, closed, skipped and failed records beyond the newest ``keep_ended`` are pruned; open incidents
  and pending actions never are;
- the status has a hard size budget (etcd refuses objects over 1.5 MiB, and then every patch fails). When
  new entries would not fit even after pruning every prunable record, ``accept`` raises
  :class:`JournalUnavailable` naming the budget: the receiver answers 503 and Causely retries. Nothing
  already accepted is ever dropped to make room.

A failed patch fails the ``accept`` calls waiting on it (503: the sender retries; the entries stay in memory
and go out with the next patch, and a re-sent duplicate is ignored by the engine). Worker-side writes
(``complete``, ``save_record``, ``retry_later``) wait, retrying with backoff, until a patch succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from causely_incidentio.kube import codec
from causely_incidentio.sync.journal import HistoryEntry, JournalUnavailable
from causely_incidentio.sync.records import (
    Counters,
    FindingRecord,
    Intake,
    PendingAction,
    State,
)

log = logging.getLogger(__name__)

PERSISTED_COUNTERS = ("created", "updated", "resolved", "skipped", "failed", "ignored")  # status.counters
JOURNAL_FIELDS = frozenset({"pending", "incidents", "overflow", "counters", "openIncidents", "pendingActions"})
PRUNABLE = frozenset({State.RESOLVED, State.CLOSED_OUTSIDE, State.SKIPPED, State.FAILED})
BASE_STATUS_BYTES = 256  # counters, openIncidents, pendingActions and the two map wrappers
LINGER_TURNS = 4  # event-loop turns the writer waits before cutting a patch: no time, more per patch
_MISSING = object()


class StatusPatcher(Protocol):
    """Applies a JSON merge patch to an object's status subresource (``KubeApi`` does)."""

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class JournalStats:
    """One destination's journal at a glance (for conditions, metrics and the benchmark)."""

    status_bytes: int
    budget_bytes: int
    pending: int
    records: int
    open_incidents: int
    patches: int
    failed_patches: int


@dataclass
class _Waiter:
    future: asyncio.Future[None]
    fail_fast: bool  # accept(): a failed patch fails it; worker-side writes wait for a patch that succeeds


@dataclass
class _Sent:
    """What one patch carried, to mark written on success or make dirty again on failure."""

    pending: set[int]
    records: set[str]
    scalars: dict[str, Any]
    waiters: list[_Waiter]


def _describe(exc: BaseException) -> str:
    """A short, token-free description of a failed patch (never the request or its headers)."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        reason = getattr(exc, "reason", None)
        return f"HTTP {status} {reason}" if isinstance(reason, str) and reason else f"HTTP {status}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__


class _Destination:
    """One destination's journal state: the status as it should be, and what is not written yet."""

    def __init__(self, dest_id: str, namespace: str, name: str) -> None:
        self.id = dest_id
        self.namespace = namespace
        self.name = name
        self.pending: dict[int, PendingAction] = {}  # in seq order
        self.pending_values: dict[int, str] = {}
        self.durable: set[int] = set()  # pending actions already in status: the only ones workers see
        self.pending_oids: dict[str, int] = {}
        self.records: dict[str, FindingRecord] = {}
        self.record_values: dict[str, str] = {}
        self.prunable: set[str] = set()
        self.cleared_unknown: set[str] = set()
        self.open_incidents = 0
        self.counters = Counters()
        self.fields: dict[str, Any] = {}
        self.fields_bytes = 0
        self.map_bytes = 0
        self.foreign_bytes = 0  # entries this version cannot read: kept as they are, but they take room
        self.written: dict[str, Any] = {}  # scalar fields as the object has them
        self.dirty_pending: set[int] = set()
        self.dirty_records: set[str] = set()
        self.waiters: list[_Waiter] = []
        self.next_seq = 1
        self.wake = asyncio.Event()
        self.in_flight = False
        self.task: asyncio.Task[None] | None = None
        self.patches = 0
        self.failed_patches = 0

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    def status_bytes(self) -> int:
        return BASE_STATUS_BYTES + self.map_bytes + self.fields_bytes + self.foreign_bytes

    # -- pending actions -------------------------------------------------------------------------------
    def put_pending(self, action: PendingAction, value: str) -> None:
        key = codec.seq_key(action.seq)
        old = self.pending_values.get(action.seq)
        if old is None:
            self.pending_oids[action.object_id] = self.pending_oids.get(action.object_id, 0) + 1
        else:
            self.map_bytes -= codec.entry_size(key, old)
        self.pending[action.seq] = action
        self.pending_values[action.seq] = value
        self.map_bytes += codec.entry_size(key, value)
        self.dirty_pending.add(action.seq)

    def drop_pending(self, seq: int) -> None:
        action = self.pending.pop(seq, None)
        if action is None:
            return
        value = self.pending_values.pop(seq)
        self.map_bytes -= codec.entry_size(codec.seq_key(seq), value)
        self.durable.discard(seq)
        left = self.pending_oids[action.object_id] - 1
        if left:
            self.pending_oids[action.object_id] = left
        else:
            del self.pending_oids[action.object_id]
        self.dirty_pending.add(seq)

    # -- records ---------------------------------------------------------------------------------------
    def put_record(self, record: FindingRecord, value: str) -> None:
        oid = record.object_id
        if oid in self.records:
            self._forget_record(oid)
        self.records[oid] = record
        self.record_values[oid] = value
        self.map_bytes += codec.entry_size(oid, value)
        if record.has_incident:
            self.open_incidents += 1
        if record.state in PRUNABLE:
            self.prunable.add(oid)
        elif record.state is State.CLEARED_UNKNOWN:
            self.cleared_unknown.add(oid)
        self.dirty_records.add(oid)

    def drop_record(self, oid: str) -> None:
        if oid in self.records:
            self._forget_record(oid)
            self.dirty_records.add(oid)

    def _forget_record(self, oid: str) -> None:
        record = self.records.pop(oid)
        self.map_bytes -= codec.entry_size(oid, self.record_values.pop(oid))
        if record.has_incident:
            self.open_incidents -= 1
        self.prunable.discard(oid)
        self.cleared_unknown.discard(oid)

    # -- what the next patch carries -------------------------------------------------------------------
    def desired_scalars(self) -> dict[str, Any]:
        scalars = dict(self.fields)
        scalars["counters"] = {name: getattr(self.counters, name) for name in PERSISTED_COUNTERS}
        scalars["openIncidents"] = self.open_incidents
        scalars["pendingActions"] = len(self.pending)
        return scalars

    def changed_scalars(self) -> dict[str, Any]:
        return {k: v for k, v in self.desired_scalars().items() if self.written.get(k, _MISSING) != v}

    def has_unwritten(self) -> bool:
        return bool(self.dirty_pending or self.dirty_records or self.changed_scalars())

    def take_patch(self) -> tuple[dict[str, Any], _Sent]:
        patch: dict[str, Any] = self.changed_scalars()
        sent = _Sent(self.dirty_pending, self.dirty_records, dict(patch), self.waiters)
        if self.dirty_pending:
            patch["pending"] = {codec.seq_key(s): self.pending_values.get(s) for s in sorted(self.dirty_pending)}
        if self.dirty_records:
            patch["incidents"] = {oid: self.record_values.get(oid) for oid in self.dirty_records}
        self.dirty_pending, self.dirty_records, self.waiters = set(), set(), []
        return patch, sent

    def written_ok(self, sent: _Sent) -> None:
        self.patches += 1
        self.written.update(sent.scalars)
        self.durable.update(s for s in sent.pending if s in self.pending)
        self.release(sent.waiters)

    @staticmethod
    def release(waiters: list[_Waiter]) -> None:
        for w in waiters:
            if not w.future.done():
                w.future.set_result(None)

    def register(self, *, fail_fast: bool) -> asyncio.Future[None]:
        """A future resolved by the first successful patch taken from now on (or failed, for ``fail_fast``)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(_Waiter(future, fail_fast))
        self.wake.set()
        return future

    def write_failed(self, sent: _Sent, error: JournalUnavailable) -> None:
        self.failed_patches += 1
        self.dirty_pending |= sent.pending
        self.dirty_records |= sent.records
        for w in sent.waiters:
            if not w.fail_fast:
                self.waiters.append(w)
            elif not w.future.done():
                w.future.set_exception(error)

    def fail_all(self, error: JournalUnavailable) -> None:
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            if not w.future.done():
                w.future.set_exception(error)


class KubeStatusJournal:
    """:class:`~causely_incidentio.sync.journal.Journal` kept in each IncidentDestination's status.

    ``budget_bytes`` caps the estimated size of the status; ``keep_ended`` is how many ended records
    (resolved, closed outside, skipped, failed, and cleared-unknown older than ``cleared_unknown_ttl``
    seconds) each destination keeps. ``retry_delay``/``max_retry_delay`` pace retries of a failed patch;
    ``patch_timeout`` bounds one patch. Must be used from one event loop (attach starts tasks on it).
    """

    def __init__(
        self,
        api: StatusPatcher,
        *,
        budget_bytes: int = 900 * 1024,
        keep_ended: int = 200,
        cleared_unknown_ttl: float = 3600.0,
        clock: Callable[[], float] = time.time,
        retry_delay: float = 0.2,
        max_retry_delay: float = 5.0,
        patch_timeout: float = 10.0,
        close_timeout: float = 5.0,
    ) -> None:
        self.api = api
        self.budget_bytes = budget_bytes
        self.keep_ended = keep_ended
        self.cleared_unknown_ttl = cleared_unknown_ttl
        self.clock = clock
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.patch_timeout = patch_timeout
        self.close_timeout = close_timeout
        self._dests: dict[str, _Destination] = {}

    # -- destinations ----------------------------------------------------------------------------------
    def attach(self, dest_id: str, namespace: str, name: str, status: Mapping[str, Any] | None) -> None:
        """Track a destination object, loading what its status holds; a no-op if already attached.

        After a restart this is where accepted actions come back: the worker finds them in
        :meth:`pending`, in their original order, and sequence numbers continue after the highest loaded.
        """
        if dest_id in self._dests:
            return
        d = _Destination(dest_id, namespace, name)
        status = status or {}
        self._load(d, status)
        d.written = {k: v for k, v in status.items() if k not in ("pending", "incidents", "overflow")}
        self._dests[dest_id] = d
        self._prune(d)
        d.task = asyncio.get_running_loop().create_task(self._write_loop(d), name=f"status-writer:{dest_id}")
        if d.has_unwritten():
            d.wake.set()

    def _load(self, d: _Destination, status: Mapping[str, Any]) -> None:
        loaded: list[tuple[PendingAction, str]] = []
        max_seq = 0
        for key, value in (status.get("pending") or {}).items():
            if key.isdigit():
                max_seq = max(max_seq, int(key))
            try:
                if not isinstance(value, str):
                    raise codec.CodecError(f"pending entry {key[:40]} is not a string")
                loaded.append((codec.decode_pending(d.id, key, value), value))
            except codec.CodecError as exc:
                log.warning("%s: status.pending entry left as it is: %s", d.where, exc)
                d.foreign_bytes += len(json.dumps({str(key): value}))
        for action, value in sorted(loaded, key=lambda item: item[0].seq):
            d.put_pending(action, value)
            d.durable.add(action.seq)
        d.next_seq = max_seq + 1
        for oid, value in (status.get("incidents") or {}).items():
            try:
                if not isinstance(value, str):
                    raise codec.CodecError(f"record {oid[:80]} is not a string")
                d.put_record(codec.decode_record(d.id, oid, value), value)
            except codec.CodecError as exc:
                log.warning("%s: status.incidents entry left as it is: %s", d.where, exc)
                d.foreign_bytes += len(json.dumps({str(oid): value}))
        for key, value in (status.get("overflow") or {}).items():  # not written by this version
            d.foreign_bytes += len(json.dumps({str(key): value}))
        counters = status.get("counters") or {}
        for counter in PERSISTED_COUNTERS:
            with contextlib.suppress(TypeError, ValueError):
                setattr(d.counters, counter, int(counters.get(counter) or 0))
        d.dirty_pending.clear()
        d.dirty_records.clear()

    def is_attached(self, dest_id: str) -> bool:
        return dest_id in self._dests

    async def detach(self, dest_id: str) -> None:
        """The destination is gone: stop its writer; anything still waiting on it gets JournalUnavailable."""
        d = self._dests.pop(dest_id, None)
        if d is None:
            return
        if d.task is not None:
            d.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await d.task
        d.fail_all(JournalUnavailable(f"destination {dest_id} was removed while its status was being written"))

    def set_fields(self, dest_id: str, fields: Mapping[str, Any]) -> None:
        """Merge non-journal status fields (conditions, lastSyncTime, ...) into the next patch, without waiting.

        Only fields whose value differs from what the object has are sent; ``None`` removes a field.
        """
        clash = JOURNAL_FIELDS.intersection(fields)
        if clash:
            raise ValueError(f"status fields {sorted(clash)} belong to the journal")
        d = self._dest(dest_id)
        d.fields.update(copy.deepcopy(dict(fields)))  # a caller's later in-place edit must count as a change
        d.fields_bytes = len(json.dumps(d.fields, default=str))
        if d.changed_scalars():
            d.wake.set()

    async def flush(self, dest_id: str) -> None:
        """Wait until everything changed so far is in the object (retrying failed patches)."""
        d = self._dest(dest_id)
        if d.in_flight or d.has_unwritten() or d.waiters:
            await d.register(fail_fast=False)

    def stats(self, dest_id: str) -> JournalStats:
        d = self._dest(dest_id)
        return JournalStats(
            status_bytes=d.status_bytes(), budget_bytes=self.budget_bytes, pending=len(d.pending),
            records=len(d.records), open_incidents=d.open_incidents, patches=d.patches,
            failed_patches=d.failed_patches,
        )

    def _dest(self, dest_id: str) -> _Destination:
        d = self._dests.get(dest_id)
        if d is None:
            raise JournalUnavailable(f"destination {dest_id} is not attached to the status journal")
        return d

    # -- the writer ------------------------------------------------------------------------------------
    async def _write_loop(self, d: _Destination) -> None:
        delay = self.retry_delay
        while True:
            await d.wake.wait()
            for _ in range(LINGER_TURNS):  # let callers the last patch released queue their next change
                await asyncio.sleep(0)
            d.wake.clear()
            patch, sent = d.take_patch()
            if not patch:  # nothing changed since the last successful patch: its waiters are done
                d.release(sent.waiters)
                continue
            d.in_flight = True
            try:
                await asyncio.wait_for(self.api.patch_status(d.namespace, d.name, patch), self.patch_timeout)
            except asyncio.CancelledError:
                d.write_failed(sent, JournalUnavailable(f"status writer for {d.where} stopped"))
                raise
            except Exception as exc:
                why = _describe(exc)
                log.warning("%s: status patch failed (%s); retrying in %.1fs", d.where, why, delay)
                if getattr(exc, "status", None) == 422:
                    self._drop_rejected_fields(d, sent)
                d.write_failed(sent, JournalUnavailable(
                    f"cannot write the status of IncidentDestination {d.where}: {why}"
                ))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
                d.wake.set()
                continue
            finally:
                d.in_flight = False
            delay = self.retry_delay
            d.written_ok(sent)

    @staticmethod
    def _drop_rejected_fields(d: _Destination, sent: _Sent) -> None:
        """A 422 may come from a non-journal field: stop re-sending those so the journal is not blocked."""
        rejected = {k: v for k, v in sent.scalars.items() if k in d.fields}
        if rejected:
            log.error("%s: the API server rejected status fields %s; not sending them again until they change",
                      d.where, sorted(rejected))
            d.written.update(rejected)

    # -- pruning and the budget ------------------------------------------------------------------------
    def _eligible(self, d: _Destination) -> list[FindingRecord]:
        """Records that may be pruned now, oldest first."""
        cutoff = self.clock() - self.cleared_unknown_ttl
        found = [d.records[oid] for oid in d.prunable if oid not in d.pending_oids]
        found += [
            d.records[oid] for oid in d.cleared_unknown
            if oid not in d.pending_oids and d.records[oid].updated_at <= cutoff
        ]
        found.sort(key=lambda r: (r.updated_at, r.object_id))
        return found

    def _prune(self, d: _Destination) -> None:
        if len(d.prunable) + len(d.cleared_unknown) <= self.keep_ended:
            return
        eligible = self._eligible(d)
        for record in eligible[: max(0, len(eligible) - self.keep_ended)]:
            d.drop_record(record.object_id)

    def _make_room(self, d: _Destination, needed: int) -> list[str]:
        """Records to prune so ``needed`` more bytes fit the budget; JournalUnavailable when they cannot."""
        over = d.status_bytes() + needed - self.budget_bytes
        if over <= 0:
            return []
        victims: list[str] = []
        for record in self._eligible(d):
            if over <= 0:
                break
            victims.append(record.object_id)
            over -= codec.entry_size(record.object_id, d.record_values[record.object_id])
        if over > 0:
            raise JournalUnavailable(
                f"the status of IncidentDestination {d.where} is at its budget of {self.budget_bytes} bytes "
                f"({d.open_incidents} open incidents, {len(d.pending)} pending actions); "
                "retry once pending actions are applied"
            )
        return victims

    # -- Journal: intake -------------------------------------------------------------------------------
    async def accept(self, intakes: Sequence[Intake]) -> None:
        """Store ``intakes`` in their destinations' status; returns once a patch carrying them succeeded."""
        if not intakes:
            return
        batches: dict[str, list[Intake]] = {}
        for intake in intakes:
            batches.setdefault(intake.destination_id, []).append(intake)
        plans: list[tuple[_Destination, list[tuple[Intake, str]], list[str]]] = []
        for dest_id, batch in batches.items():  # check everything before changing anything
            d = self._dest(dest_id)
            encoded = [
                (i, codec.encode_pending(self._action(i, 0), codec.encode_payload(i.payload))[1]) for i in batch
            ]
            key = codec.seq_key(d.next_seq + len(batch))
            needed = sum(codec.entry_size(key, value) for _, value in encoded)
            plans.append((d, encoded, self._make_room(d, needed)))
        waits: list[asyncio.Future[None]] = []
        for d, encoded, victims in plans:
            for oid in victims:
                d.drop_record(oid)
            for intake, value in encoded:
                d.put_pending(self._action(intake, d.next_seq), value)
                d.next_seq += 1
            waits.append(d.register(fail_fast=True))
        if len(waits) == 1:
            await waits[0]
            return
        results = await asyncio.gather(*waits, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    @staticmethod
    def _action(intake: Intake, seq: int) -> PendingAction:
        return PendingAction(
            seq, intake.destination_id, intake.object_id, intake.payload, codec.round_time(intake.received_at)
        )

    def is_known(self, destination_id: str, object_id: str) -> bool:
        d = self._dests.get(destination_id)
        return d is not None and (object_id in d.records or object_id in d.pending_oids)

    # -- Journal: reads --------------------------------------------------------------------------------
    async def pending(self, destination_id: str, limit: int = 500) -> list[PendingAction]:
        """The oldest ``limit`` actions already written to status, in arrival order."""
        d = self._dests.get(destination_id)
        if d is None:
            return []
        found: list[PendingAction] = []
        for seq, action in d.pending.items():
            if len(found) >= limit:
                break
            if seq in d.durable:
                found.append(action)
        return found

    async def pending_count(self, destination_id: str | None = None) -> int:
        if destination_id is None:
            return sum(len(d.durable) for d in self._dests.values())
        d = self._dests.get(destination_id)
        return 0 if d is None else len(d.durable)

    async def record(self, destination_id: str, object_id: str) -> FindingRecord | None:
        d = self._dests.get(destination_id)
        record = None if d is None else d.records.get(object_id)
        return None if record is None else record.copy()

    async def records(self, destination_id: str | None = None) -> list[FindingRecord]:
        if destination_id is None:
            dests = [self._dests[k] for k in sorted(self._dests)]
        else:
            dests = [self._dests[destination_id]] if destination_id in self._dests else []
        found: list[FindingRecord] = []
        for d in dests:
            found += sorted((r.copy() for r in d.records.values()), key=lambda r: r.created_at)
        return found

    async def counters(self, destination_id: str) -> Counters:
        d = self._dests.get(destination_id)
        return Counters() if d is None else Counters(**d.counters.as_dict())

    # -- Journal: writes by workers --------------------------------------------------------------------
    def _store_record(self, d: _Destination, record: FindingRecord, counter: str | None) -> None:
        value = codec.encode_record(record)
        d.put_record(codec.decode_record(d.id, record.object_id, value), value)  # memory = what status holds
        if counter is not None:
            d.counters.add(counter)
        self._prune(d)

    async def complete(
        self, action: PendingAction, record: FindingRecord, counter: str | None, history: HistoryEntry
    ) -> None:
        """Remove the action and store the record in one patch; waits (retrying) until it is written."""
        d = self._dest(record.destination_id)
        d.drop_pending(action.seq)
        self._store_record(d, record, counter)
        await d.register(fail_fast=False)

    async def save_record(self, record: FindingRecord, counter: str | None, history: HistoryEntry) -> None:
        d = self._dest(record.destination_id)
        self._store_record(d, record, counter)
        await d.register(fail_fast=False)

    async def retry_later(self, action: PendingAction, error: str) -> None:
        d = self._dest(action.destination_id)
        current = d.pending.get(action.seq)
        if current is None:
            return
        again = dataclasses.replace(
            current, attempts=current.attempts + 1, last_error=codec.truncate_error(error)
        )
        _, value = codec.encode_pending(again, codec.payload_field(d.pending_values[action.seq]))
        d.put_pending(again, value)
        await d.register(fail_fast=False)

    async def close(self) -> None:
        """Write what is still unwritten (for at most ``close_timeout`` seconds), then stop every writer."""
        dests = list(self._dests)
        with contextlib.suppress(TimeoutError, JournalUnavailable):
            await asyncio.wait_for(
                asyncio.gather(*(self.flush(dest_id) for dest_id in dests)), self.close_timeout
            )
        for dest_id in dests:
            await self.detach(dest_id)
