"""The running pipeline: destinations, their workers, routing and intake — shared by every mode.

Standalone mode, the demo and the Kubernetes operator all build one :class:`Pipeline` and feed it
destination configs; the receiver hands it validated notifications.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from causely_incidentio.destinations import DestinationConfig
from causely_incidentio.metrics import Metrics
from causely_incidentio.payload import Notification
from causely_incidentio.problems import InvalidInput, Problem
from causely_incidentio.settings import Settings
from causely_incidentio.sync.journal import DestinationRefused, Journal, JournalUnavailable
from causely_incidentio.sync.records import Intake
from causely_incidentio.sync.worker import DestinationWorker, EventSink, Health

log = logging.getLogger(__name__)


@dataclass
class InvalidDestination:
    """A destination whose config could not be built: shown, never served."""

    id: str
    error: InvalidInput
    health: Health = field(default_factory=Health)
    last_valid: DestinationConfig | None = None  # its filters route new findings while it is invalid
    takes_new: bool = True  # False once its object is deleted (retired): only findings it tracks wait for it

    def accepts(self, n: Notification) -> bool:
        """Keep a new finding for it while it is invalid, by the filters of its last valid config. One never
        valid in this process has no filters to go by: it gets only the findings it already tracks (routing
        every finding to a destination that may never work would fill the journal for nothing), and a
        finding no other destination takes is answered 503 (see :meth:`Pipeline.accept`)."""
        return self.takes_new and self.last_valid is not None and self.last_valid.accepts(n)

    def __post_init__(self) -> None:
        self.health.config_valid = False
        self.health.config_reason = "InvalidConfig"
        self.health.config_message = self.error.message


@dataclass(frozen=True)
class AcceptResult:
    destinations: list[str]  # the notification is durable for these
    refused: list[str]  # these could not record it (their journal is full); they will not see it


class Pipeline:
    def __init__(
        self,
        journal: Journal,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        events: EventSink | None = None,
        worker_options: dict[str, Any] | None = None,
        on_change: Callable[[str], None] | None = None,
        active: bool = True,
    ) -> None:
        self.journal = journal
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.events = events
        self.worker_options = worker_options or {}
        self.on_change = on_change
        self.workers: dict[str, DestinationWorker] = {}
        self.configs: dict[str, DestinationConfig] = {}  # every valid destination (routing)
        self.invalid: dict[str, InvalidDestination] = {}
        self.loaded = False  # True once a first set of destinations was applied (readiness)
        self.unreadable: str | None = None  # why the destinations could not be read at all (standalone start)
        self.active = active  # workers run (standalone: always; Kubernetes: on the Lease holder only)

    # -- destinations ----------------------------------------------------------------------------------
    def set_destinations(
        self, valid: Iterable[DestinationConfig], invalid: Iterable[tuple[str, InvalidInput]] = ()
    ) -> None:
        """Replace the whole set (standalone mode): start new workers, reconfigure changed, stop removed."""
        valid = list(valid)
        wanted = {c.id for c in valid}
        for c in valid:
            self.upsert(c)
        previous, self.invalid = self.invalid, {}
        for dest_id, err in invalid:
            if dest_id in wanted:
                continue  # a second definition of a served destination is reported, not served in its place
            self.mark_invalid(dest_id, err, last_valid=previous[dest_id].last_valid if dest_id in previous else None)
        for dest_id in list(self.configs):
            if dest_id not in wanted and dest_id not in self.invalid:
                asyncio.get_running_loop().create_task(self.remove(dest_id))
        self.loaded = True
        self.unreadable = None

    def upsert(self, config: DestinationConfig) -> DestinationWorker | None:
        self.invalid.pop(config.id, None)
        self.configs[config.id] = config
        if not self.active:
            return None
        worker = self.workers.get(config.id)
        if worker is None:
            worker = DestinationWorker(
                config, self.journal, settings=self.settings, metrics=self.metrics, events=self.events,
                on_change=self.on_change, **self.worker_options,
            )
            self.workers[config.id] = worker
            worker.start()
            log.info("destination %s: serving (%s)", config.id, config.source.value)
        else:
            worker.reconfigure(config)
        return worker

    def activate(self) -> None:
        """Start delivering (this replica became the reconciler): a worker per valid destination."""
        self.active = True
        for config in list(self.configs.values()):
            self.upsert(config)

    async def deactivate(self) -> None:
        """Stop delivering (the Lease was lost or handed back); routing and intake go on."""
        self.active = False
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(*(w.stop() for w in workers))

    def mark_invalid(self, dest_id: str, error: InvalidInput, last_valid: DestinationConfig | None = None) -> None:
        """An invalid destination stops being served; what it accepted stays in the journal, and what it would
        accept meanwhile is journaled for it too: delivered once the config is valid again, never dropped."""
        old = self.configs.pop(dest_id, None) or last_valid
        if old is None and dest_id in self.invalid:
            old = self.invalid[dest_id].last_valid
        worker = self.workers.pop(dest_id, None)
        if worker is not None:
            asyncio.get_running_loop().create_task(worker.stop())
        self.invalid[dest_id] = InvalidDestination(dest_id, error, last_valid=old)
        log.warning("destination %s: invalid configuration: %s", dest_id, error.message)

    async def retire(self, dest_id: str, reason: str) -> None:
        """The object defining a destination is gone, maybe for a moment (a Secret deleted and re-created).

        Delivery stops, but the findings it already tracks keep being recorded for it (as for an invalid
        destination), so a clear sent meanwhile is there when the destination comes back.
        """
        worker = self.workers.pop(dest_id, None)
        if worker is not None:
            await worker.stop()
        self.configs.pop(dest_id, None)
        self.invalid[dest_id] = InvalidDestination(dest_id, InvalidInput(dest_id, [Problem("", reason)]),
                                                   takes_new=False)
        log.info("destination %s: %s; findings it tracks are still recorded", dest_id, reason)

    async def remove(self, dest_id: str) -> None:
        """Deleting a destination stops its deliveries; its open incidents are left for humans."""
        self.invalid.pop(dest_id, None)
        self.configs.pop(dest_id, None)
        self.metrics.forget_destination(dest_id)  # a deleted destination leaves no stale series
        worker = self.workers.pop(dest_id, None)
        if worker is not None:
            await worker.stop()
            log.info("destination %s: removed; its open incidents are left as they are", dest_id)

    def health(self, dest_id: str) -> Health | None:
        if dest_id in self.workers:
            return self.workers[dest_id].health
        if dest_id in self.invalid:
            return self.invalid[dest_id].health
        return None

    # -- intake ----------------------------------------------------------------------------------------
    def route(self, n: Notification) -> list[str]:
        """Destinations that must see ``n``: filters accept it, or they already track this finding.

        The severity threshold is applied by the worker (so a below-threshold finding is recorded as
        skipped); a finding a destination already tracks always reaches it, whatever the filters say — even
        while its config is invalid (say, its token Secret is being replaced): the action waits in the
        journal and is carried out once the destination is valid again. A new finding is kept for an invalid
        destination too (by the filters of its last valid config, if it had one), so a typo never drops it.
        """
        served = [
            dest_id
            for dest_id, config in self.configs.items()
            if config.accepts(n) or self.journal.is_known(dest_id, n.object_id)
        ]
        waiting = [dest_id for dest_id, inv in self.invalid.items()
                   if inv.accepts(n) or self.journal.is_known(dest_id, n.object_id)]
        return served + waiting

    def backlog(self) -> dict[str, dict[str, float]]:
        """Per served destination with work waiting: actions pending (stuck ones included) and the oldest's age
        in seconds, as its worker last published them (shown by /readyz; the gauges carry the same)."""
        return {d: {"pending": w.backlog[0], "oldestSeconds": round(w.backlog[1], 1)}
                for d, w in sorted(self.workers.items()) if w.backlog[0]}

    def readiness(self) -> tuple[bool, str]:
        """Ready unless destinations are defined and none of them is valid (nothing could be delivered)."""
        if not self.loaded:
            return False, "destinations not loaded yet"
        if self.unreadable is not None:
            return False, f"destinations cannot be read: {self.unreadable}"[:1000]
        if self.invalid and not self.configs:
            return False, "no valid destination: " + "; ".join(
                f"{d}: {inv.health.config_message}" for d, inv in sorted(self.invalid.items()))[:1000]
        return True, f"{len(self.configs)} destination(s) served"

    async def accept(self, n: Notification, payload: bytes) -> AcceptResult:
        """Journal ``n`` for every matching destination; says which ids it is durable for, and which refused.

        When the journal refuses some destinations (a Kubernetes status at its size budget) the others still
        take it: one broken destination never blocks the rest. Only when none can take it does this raise
        :class:`JournalUnavailable` (the receiver answers 503 and the sender retries).
        """
        dest_ids = self.route(n)
        if not dest_ids:
            unknown = sorted(d for d, inv in self.invalid.items() if inv.takes_new and inv.last_valid is None)
            if unknown:  # it may be theirs: answer 503 (the sender retries) rather than 202 to no destination
                raise JournalUnavailable(
                    f"no destination takes it while {', '.join(unknown)} is invalid with no filters known yet"
                )
            if self.unreadable is not None:
                raise JournalUnavailable("no destination takes it while the destinations cannot be read")
        now = time.time()
        refused: list[str] = []
        try:
            await self.journal.accept([Intake(d, n.object_id, payload, now, n) for d in dest_ids])
            accepted = dest_ids
        except DestinationRefused as partial:  # the others have it; these refused for good
            refused = [d for d in dest_ids if d in partial.refused]
            accepted = [d for d in dest_ids if d not in partial.refused]
            for d in refused:
                self._rejected([d], n, JournalUnavailable(partial.refused[d]))
            if not accepted:
                raise
        except JournalUnavailable as whole:
            if len(dest_ids) < 2:
                self._rejected(dest_ids, n, whole)
                raise
            accepted = []
            for d in dest_ids:  # one at a time, so a full destination refuses only for itself
                try:
                    await self.journal.accept([Intake(d, n.object_id, payload, now, n)])
                    accepted.append(d)
                except JournalUnavailable as exc:
                    refused.append(d)
                    self._rejected([d], n, exc)
            if not accepted:
                raise
        for d in accepted:
            worker = self.workers.get(d)
            if worker is not None:
                worker.wake()
        return AcceptResult(accepted, refused)

    def _rejected(self, dest_ids: list[str], n: Notification, exc: JournalUnavailable) -> None:
        log.error("journal refused %s %s for %s: %s", n.type.value, n.object_id, ", ".join(dest_ids), exc)
        if self.events is not None:  # the owners see why (rate-limited Events in Kubernetes)
            for d in dest_ids:
                self.events(d, "NotificationRejected", f"{n.type.value} {n.object_id} was not recorded: {exc}",
                            warning=True)

    # -- shutdown / test helpers -----------------------------------------------------------------------
    async def wait_idle(self, timeout: float = 30.0) -> None:
        await asyncio.gather(*(w.wait_idle(timeout) for w in self.workers.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers.values()))
        self.workers.clear()

    def destination_ids(self) -> Sequence[str]:
        return sorted({*self.configs, *self.invalid})
