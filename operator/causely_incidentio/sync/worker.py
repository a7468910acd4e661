"""One sync worker per destination: drains that destination's journal and makes incident.io match.

The worker owns everything that talks to incident.io for its destination. It decides with the pure engine,
carries the decision out with the client, and writes the outcome to the journal. Failure handling:

- transient (429 beyond the client's retries, 5xx, timeouts): the action stays pending with its attempt
  count and error, and the worker backs off; later actions of the same finding wait (ordering), others go on;
- permanent (400/404/422, a severity or status that does not exist): the action is marked failed with the
  error text and the finding moves on; an edit that fails is checked against the incident, and an incident a
  human already resolved or closed is recorded as closed outside the operator, never edited again;
- attempt budget: an unexpected error (a bug, a value the journal cannot store) counts against the action's
  budget every time; a transient failure counts only when incident.io accepted some write (a POST) since the
  action's previous attempt (so an outage never uses the budget up, but a request incident.io fails alone
  does). Out of budget, the action ends ``failed`` (Warning Event ``ActionAbandoned``, an ERROR log line, the
  ``causely_incidentio_actions_abandoned_total`` metric) and the finding's next notification is carried out;
- 401/403: the destination is marked unauthenticated and paused, nothing is retried in a loop; a new token
  (config fingerprint change) or the periodic re-check wakes it; pending actions are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from causely_incidentio.destinations import DestinationConfig
from causely_incidentio.incidentio.catalog import Catalog, CatalogLookupError
from causely_incidentio.incidentio.client import IncidentIOClient
from causely_incidentio.incidentio.errors import IncidentIOError, RetriesExhaustedError, is_auth_failure
from causely_incidentio.incidentio.models import Incident
from causely_incidentio.incidentio.severity import SeverityResolutionError
from causely_incidentio.metrics import Metrics
from causely_incidentio.payload import Notification, parse_notification
from causely_incidentio.problems import InvalidInput
from causely_incidentio.render import render_summary, render_title
from causely_incidentio.settings import Settings
from causely_incidentio.sync.engine import Decision, Kind, decide_for_occurrence, idempotency_key
from causely_incidentio.sync.journal import HistoryEntry, Journal
from causely_incidentio.sync.records import ENDED, FindingRecord, PendingAction, State

log = logging.getLogger(__name__)

MAX_REPLAYED_ENDED = 20  # occurrences to skip when a create replays an incident that already ended
MAX_UNEXPECTED_ATTEMPTS = 5  # an action that hits an unexpected error this often is given up
MAX_FAILING_STRIKES = 30  # ...and one incident.io fails this often while it answers other requests


PARSE_INLINE_BYTES = 64 * 1024  # larger notifications are parsed in a thread (~100 ms for 1 MiB)


async def parse_off_loop(payload: bytes) -> Notification:
    """:func:`parse_notification`, in a thread when the body is large (same reason as below)."""
    if len(payload) <= PARSE_INLINE_BYTES:
        return parse_notification(payload)
    return await asyncio.to_thread(parse_notification, payload)


async def render_off_loop(n: Notification) -> str:
    """The summary, rendered in a worker thread: the event loop (and with it /healthz and intake) never waits on
    the CPU work of a large notification. The hop costs well under a millisecond, next to an HTTP call."""
    return await asyncio.to_thread(render_summary, n)


class EventSink(Protocol):
    """Where user-facing events go: Kubernetes Events in the operator, the log in standalone mode."""

    def __call__(
        self, destination_id: str, reason: str, message: str, *, warning: bool = False, object_id: str | None = None
    ) -> None: ...


def log_events(
    destination_id: str, reason: str, message: str, *, warning: bool = False, object_id: str | None = None
) -> None:
    log.log(logging.WARNING if warning else logging.INFO, "%s %s: %s", destination_id, reason, message)


@dataclass
class Health:
    """The destination's conditions, as the status writer and /readyz see them."""

    config_valid: bool = True
    config_reason: str = "Valid"
    config_message: str = ""
    authenticated: bool | None = None  # None: not checked yet
    auth_reason: str = "Pending"
    auth_message: str = "not checked yet"
    last_sync: float | None = None
    last_error: str | None = None
    changed_at: float = field(default_factory=time.time)

    @property
    def ready(self) -> bool:
        return self.config_valid and self.authenticated is True

    @property
    def reason(self) -> str:
        if not self.config_valid:
            return self.config_reason
        if self.authenticated is not True:
            return self.auth_reason
        return "Ready"

    @property
    def message(self) -> str:
        if not self.config_valid:
            return self.config_message
        if self.authenticated is not True:
            return self.auth_message
        return "Delivering notifications"


class ConfigError(Exception):
    """The destination's config names something incident.io does not have (status, severity, type)."""


class TransientFailure(Exception):
    """Try this action again later; carries a token-free message."""


@dataclass
class Outcome:
    record: FindingRecord
    counter: str | None
    event: tuple[str, str, bool] | None = None  # (reason, message, warning)
    error: str | None = None


ClientFactory = Callable[[DestinationConfig], IncidentIOClient]


def _transient(exc: IncidentIOError) -> bool:
    """Worth trying again later: a retryable error, or the client's retries running out on one."""
    return exc.retryable or isinstance(exc, RetriesExhaustedError)


class DestinationWorker:
    def __init__(
        self,
        config: DestinationConfig,
        journal: Journal,
        *,
        settings: Settings,
        metrics: Metrics | None = None,
        events: EventSink | None = None,
        concurrency: int = 8,
        batch_size: int = 500,
        recheck_interval: float = 300.0,
        retry_delay: float = 2.0,
        max_retry_delay: float = 60.0,
        auth_retry_interval: float = 300.0,
        client_factory: ClientFactory | None = None,
        on_change: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        max_unexpected_attempts: int = MAX_UNEXPECTED_ATTEMPTS,
        max_failing_strikes: int = MAX_FAILING_STRIKES,
    ) -> None:
        self.config = config
        self.journal = journal
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.events: EventSink = events or log_events
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.recheck_interval = recheck_interval
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.auth_retry_interval = auth_retry_interval
        self.client_factory = client_factory or self._default_client
        self.on_change = on_change
        self.clock = clock
        self.max_unexpected_attempts = max_unexpected_attempts
        self.max_failing_strikes = max_failing_strikes
        self._last_ok = 0.0  # time.monotonic() of incident.io's last 2xx answer to a write (attempt budget)
        self.backlog: tuple[int, float] = (0, 0.0)  # (actions pending, oldest age in s) as last published
        self.health = Health()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._preflight_done_for: str | None = None
        self._preflight_blocked: tuple[str | None, float] = (None, 0.0)
        self._client: IncidentIOClient | None = None
        self._catalog: Catalog | None = None
        self._last_recheck = 0.0
        self._last_rate_limited_event = 0.0
        self._idle = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def destination_id(self) -> str:
        return self.config.id

    def _default_client(self, config: DestinationConfig) -> IncidentIOClient:
        """The token is read from the current config at every request, so a rotated Secret applies at once."""
        settings = self.settings
        if config.api_url:
            settings = settings.model_copy(update={"incident_io_api_url": config.api_url})
        return IncidentIOClient.from_settings(
            settings, lambda: self.config.token.get_secret_value(), on_request=self._on_request
        )

    def _on_request(self, endpoint: str, status: int | None) -> None:
        self.metrics.observe_request(endpoint, status)
        if status is not None and 200 <= status < 300 and endpoint.startswith("POST "):
            self._last_ok = time.monotonic()  # a write went through: incident.io is taking writes
        if status == 429 and self.clock() - self._last_rate_limited_event > 60:
            self._last_rate_limited_event = self.clock()
            self.events(self.destination_id, "RateLimited",
                        f"incident.io rate-limited {endpoint}; backing off as it asks", warning=True)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"worker:{self.destination_id}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def wake(self) -> None:
        self._wake.set()

    def reconfigure(self, config: DestinationConfig) -> None:
        """Use a new config (edited resource, rotated token) from the next action on; re-check it first."""
        old = self.config
        self.config = config
        if config.fingerprint != old.fingerprint:
            self._preflight_done_for = None
            if (config.api_url, config.token.get_secret_value()) != (old.api_url, old.token.get_secret_value()):
                self._reset_client()
            self.wake()

    def _reset_client(self) -> None:
        client, self._client, self._catalog = self._client, None, None
        if client is not None:
            asyncio.get_running_loop().create_task(client.aclose())

    @property
    def client(self) -> IncidentIOClient:
        if self._client is None:
            self._client = self.client_factory(self.config)
        return self._client

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.client)
        return self._catalog

    def _changed(self) -> None:
        self.health.changed_at = self.clock()
        if self.on_change is not None:
            self.on_change(self.destination_id)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until the worker has nothing pending (tests, demo)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            backlog = getattr(self.journal, "backlog", None)
            if backlog is not None:
                left = (await backlog(self.destination_id))[0]  # backing off included
            else:
                left = await self.journal.pending_count(self.destination_id)
            if left == 0:
                return
            self.wake()
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{self.destination_id}: still has pending actions after {timeout}s")

    # -- main loop -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        delay = self.retry_delay
        while not self._stopping:
            self._wake.clear()
            try:
                fingerprint = self.config.fingerprint
                if self._preflight_done_for != fingerprint:
                    # New notifications wake the worker, but must not re-check a failed config each time:
                    # only a changed config (new fingerprint) or the end of the wait does.
                    blocked_for, until = self._preflight_blocked
                    if blocked_for == fingerprint and self.clock() < until:
                        await self._sleep(until - self.clock())
                        continue
                    if not await self._preflight():
                        if not self.health.config_valid:
                            wait = 3600.0  # until the config changes (reconfigure wakes us)
                        elif self.health.authenticated is False:
                            wait = self.auth_retry_interval  # no retry loop on a refused key
                        else:
                            wait, delay = delay, min(delay * 2, self.max_retry_delay)  # incident.io unreachable
                        self._preflight_blocked = (fingerprint, self.clock() + wait)
                        await self._publish_backlog()  # nothing is delivered: the gauges show it piling up
                        await self._sleep(wait)
                        continue
                if self._preflight_done_for != self.config.fingerprint:
                    continue  # reconfigured while checking: check the new config before delivering with it
                transient = await self._drain()
                if self.clock() - self._last_recheck > self.recheck_interval:
                    await self.recheck_open_incidents()
                if transient and not getattr(self.journal, "backs_off_per_finding", False):
                    await self._sleep(delay)  # the journal cannot pace findings one by one: pause them all
                    delay = min(delay * 2, self.max_retry_delay)
                    continue
                delay = self.retry_delay
                due = await self._publish_backlog()
                pending = await self.journal.pending_count(self.destination_id)
                if pending:
                    continue
                wait = self.recheck_interval
                if due is not None:  # a finding backing off: wake when its wait is over
                    wait = max(0.01, min(wait, due - time.time() + 0.01))
                await self._sleep(wait)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one destination's bug kill its worker silently
                log.exception("worker %s: unexpected error", self.destination_id)
                self.health.last_error = f"internal error: {type(exc).__name__}"
                await self._sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)

    async def _publish_backlog(self) -> float | None:
        """Set the pending gauges from everything accepted and not carried out (stuck work included); returns
        when the next finding backing off is due (SQLite journal; the Kubernetes store wakes its worker)."""
        backlog = getattr(self.journal, "backlog", None)
        if backlog is None:
            return None
        count, oldest, due = await backlog(self.destination_id)
        self.backlog = (count, oldest)
        self.metrics.pending.labels(destination=self.destination_id).set(count)
        self.metrics.oldest_pending_age.labels(destination=self.destination_id).set(oldest)
        return due  # type: ignore[no-any-return]

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    # -- preflight: is the token good and does the config name real things? ----------------------------
    async def _preflight(self) -> bool:
        config = self.config  # check exactly this config, even if it is replaced meanwhile
        fingerprint = config.fingerprint
        try:
            identity = await self.client.identity()
            await self._check_config(config)
        except ConfigError as exc:
            self.health.authenticated = True
            self.health.auth_reason = "Authenticated"
            self.health.auth_message = "API key accepted"
            self.health.config_valid = False
            self.health.config_reason = "UnknownInIncidentIO"
            self.health.config_message = str(exc)
            self.events(self.destination_id, "InvalidConfig", str(exc), warning=True)
            self._changed()
            self.metrics.ready.labels(destination=self.destination_id).set(0)
            return False
        except IncidentIOError as exc:
            if is_auth_failure(exc):
                self._mark_unauthenticated(exc)
            else:
                self.health.authenticated = None
                self.health.auth_reason = "IncidentIOUnreachable"
                self.health.auth_message = f"cannot check the API key: {exc}"
                self._changed()
            self.metrics.ready.labels(destination=self.destination_id).set(0)
            return False
        # Ready only once both checks passed: set together, never half-way through the preflight.
        self.health.authenticated = True
        self.health.auth_reason = "Authenticated"
        self.health.auth_message = f"API key '{identity.name}' accepted"
        self.health.config_valid = True
        self.health.config_reason = "Valid"
        self.health.config_message = "configuration accepted by incident.io"
        self._preflight_done_for = fingerprint
        self.metrics.ready.labels(destination=self.destination_id).set(1)
        self._changed()
        return True

    async def _check_config(self, c: DestinationConfig) -> None:
        cat = self.catalog
        problems: list[str] = []
        try:
            if c.resolved_status_name:
                status = await cat.status_by_name(c.resolved_status_name)
                if not status.is_resolved:
                    problems.append(
                        f"resolvedStatusName {c.resolved_status_name!r} is in category {status.category!r}; "
                        "it must name a status in a resolved category (learning or closed)"
                    )
        except CatalogLookupError as exc:
            problems.append(f"resolvedStatusName: {exc}")
        for sev in ("Critical", "High", "Medium", "Low"):
            try:
                await cat.severity_for(
                    sev, severity_id=c.severity_id, severity_map=c.severity_map, severity_rule=c.severity_rule
                )
            except (CatalogLookupError, SeverityResolutionError) as exc:
                field_name = "severityID" if c.severity_id else "severityMap"
                problems.append(f"{field_name}: {exc}")
                break
        if c.incident_type_id:
            try:
                await cat.incident_type(c.incident_type_id)
            except CatalogLookupError as exc:
                problems.append(f"incidentTypeID: {exc}")
        if problems:
            raise ConfigError("; ".join(problems))

    def _mark_unauthenticated(self, exc: IncidentIOError) -> None:
        reason = "Forbidden" if exc.status == 403 else "Unauthenticated"
        if exc.status is None:  # refused before sending: empty or malformed token
            message = f"this destination's API key cannot be used: {exc}"
        else:
            message = f"incident.io answered {exc.status} to this destination's API key: {exc}"
        changed = self.health.authenticated is not False or self.health.auth_reason != reason
        self.health.authenticated = False
        self.health.auth_reason = reason
        self.health.auth_message = message
        self._preflight_done_for = None
        # Pause until the config changes or the re-check interval passes, even though a later identity check
        # may succeed: a key that can read but not write (403 on create) must not be retried in a loop.
        self._preflight_blocked = (self.config.fingerprint, self.clock() + self.auth_retry_interval)
        if changed:
            self.events(self.destination_id, "DeliveryFailed", message, warning=True)
        self.metrics.ready.labels(destination=self.destination_id).set(0)
        self._changed()

    # -- draining the journal --------------------------------------------------------------------------
    async def _drain(self) -> bool:
        """Carry out every pending action once. Returns True when some action must be retried later."""
        actions = await self.journal.pending(self.destination_id, limit=self.batch_size)
        log.debug("worker %s: %d action(s) to carry out", self.destination_id, len(actions))
        if not actions:
            return False
        groups: dict[str, list[PendingAction]] = {}
        for a in actions:
            groups.setdefault(a.object_id, []).append(a)
        sem = asyncio.Semaphore(self.concurrency)
        auth_failed: list[IncidentIOError] = []
        transient = False
        started = time.monotonic()

        async def run_group(group: list[PendingAction]) -> None:
            nonlocal transient
            async with sem:
                for action in group:
                    if auth_failed or self._preflight_done_for != self.config.fingerprint:
                        return  # paused, or reconfigured mid-drain: the next pass checks the new config first
                    try:
                        await self._process(action)
                    except TransientFailure as exc:
                        transient = True
                        # It counts against the budget only if incident.io accepted a write since this action's
                        # previous attempt (its last backoff before this pass): then it is failing alone.
                        since = started - self._previous_wait(action.attempts)
                        await self._retry_or_abandon(action, str(exc), strike=self._last_ok > since,
                                                     unexpected=False)
                        return  # keep this finding's order: later actions wait for this one
                    except IncidentIOError as exc:  # only auth failures escape _process
                        auth_failed.append(exc)
                        return
                    except Exception as exc:  # a bug or the journal failing: retry later, keep order
                        log.exception("worker %s: action %d for %s failed unexpectedly",
                                      self.destination_id, action.seq, action.object_id)
                        transient = True
                        with contextlib.suppress(Exception):
                            await self._retry_or_abandon(action, f"internal error: {type(exc).__name__}: "
                                                         f"{str(exc)[:200]}", strike=True, unexpected=True)
                        return

        # Every group finishes (or fails) before the drain returns: no task outlives it, so the next drain can
        # never run the same pending action a second time concurrently.
        await asyncio.gather(*(run_group(g) for g in groups.values()), return_exceptions=True)
        if auth_failed:
            self._mark_unauthenticated(auth_failed[0])
            return False
        if not transient:
            self.health.last_sync = self.clock()
        self._changed()
        return transient

    def _previous_wait(self, attempts: int) -> float:
        """How long the action waited after its last failure: the journal's schedule when it keeps its own (the
        Kubernetes Finding store), else this worker's (the SQLite journal waits what ``retry_later`` is told)."""
        if not attempts:
            return 0.0
        schedule = getattr(self.journal, "retry_wait", None)
        return float(schedule(attempts)) if schedule is not None else self._backoff(attempts - 1)

    def _backoff(self, attempts: int) -> float:
        """The wait after an action's ``attempts + 1``-th failure: doubling from ``retry_delay``, capped."""
        return float(min(self.max_retry_delay, self.retry_delay * 2 ** min(max(attempts, 0), 16)))

    async def _retry_or_abandon(self, action: PendingAction, error: str, *, strike: bool, unexpected: bool) -> None:
        """Try the action again after a per-finding backoff, or give it up once its budget is spent."""
        strikes = action.strikes + int(strike)
        budget = self.max_unexpected_attempts if unexpected else self.max_failing_strikes
        if strikes < budget:
            await self.journal.retry_later(action, error, delay=self._backoff(action.attempts), strike=strike)
            return
        try:
            await self._abandon(action, error, "unexpected" if unexpected else "failing", strikes)
        except Exception as exc:  # cannot even record that: try again later, never lose the action
            log.error("worker %s: cannot record that action %d for %s was given up (%s)", self.destination_id,
                      action.seq, action.object_id, type(exc).__name__)
            await self.journal.retry_later(action, error, delay=self._backoff(action.attempts), strike=False)

    async def _abandon(self, action: PendingAction, error: str, reason: str, strikes: int) -> None:
        """The action is over as ``failed``: the finding's next notification runs (a later clear included)."""
        known = await self.journal.record(self.destination_id, action.object_id)
        record = known or self._new_record(action.object_id)
        # A live incident stays tracked (a later clear still resolves it); a create that may have happened keeps
        # its write-ahead mark (a later clear replays its key, row 13).
        state = record.state if record.has_incident or record.state in ENDED else State.FAILED
        message = f"given up after {strikes} failed attempt(s): {error}"
        try:
            ntype = parse_notification(action.payload).type.value
        except Exception:
            ntype = "?"
        await self.journal.complete(
            action, record.copy(state=state, last_error=message, attempts=action.attempts + 1,
                                updated_at=self.clock()),
            "failed",
            HistoryEntry(self.destination_id, action.object_id, ntype, "abandon", reason, error=message,
                         at=self.clock()),
        )
        self.metrics.incidents.labels(destination=self.destination_id, action="failed").inc()
        self.metrics.abandoned.labels(destination=self.destination_id, reason=reason).inc()
        log.error("worker %s: %s for %s %s", self.destination_id, ntype, action.object_id, message)
        self.events(self.destination_id, "ActionAbandoned", f"{ntype} for {action.object_id} {message}",
                    warning=True, object_id=action.object_id)

    async def _process(self, action: PendingAction) -> None:
        try:
            n = await parse_off_loop(action.payload)
        except (InvalidInput, ValueError) as exc:  # accepted earlier, so only a version skew gets here
            known = await self.journal.record(self.destination_id, action.object_id) or self._new_record(
                action.object_id
            )
            await self.journal.complete(
                action, known.copy(last_error=f"unreadable notification: {exc}"), "failed",
                HistoryEntry(self.destination_id, action.object_id, "?", "fail", "unreadable", error=str(exc)),
            )
            return
        record = await self.journal.record(self.destination_id, n.object_id)
        digest = hashlib.sha256(action.payload).hexdigest()
        decision = decide_for_occurrence(record, n, self.config, action.occurrence, digest)
        mark = getattr(self.journal, "occurrence_mark", None)
        if record is None and action.occurrence is None and mark is not None:
            # The record was pruned: never reuse an occurrence (an idempotency key) it had reached.
            highest = await mark(self.destination_id, n.object_id)
            if highest is not None and decision.occurrence <= highest:
                decision = dataclasses.replace(decision, occurrence=highest + 1)
        outcome = await self._execute(decision, record or self._new_record(n.object_id), n, action)
        await self.journal.complete(
            action,
            outcome.record,
            outcome.counter,
            HistoryEntry(
                self.destination_id, n.object_id, n.type.value, decision.kind.value, decision.reason,
                reference=outcome.record.reference, error=outcome.error, at=self.clock(),
            ),
        )
        if outcome.counter:
            self.metrics.incidents.labels(destination=self.destination_id, action=outcome.counter).inc()
        if outcome.counter == "created":
            self.metrics.create_latency.observe(max(0.0, self.clock() - action.received_at))
        if outcome.event:
            reason, message, warning = outcome.event
            self.events(self.destination_id, reason, message, warning=warning, object_id=n.object_id)

    def _new_record(self, object_id: str) -> FindingRecord:
        now = self.clock()
        return FindingRecord(self.destination_id, object_id, created_at=now, updated_at=now)

    async def _execute(
        self, d: Decision, rec: FindingRecord, n: Notification, action: PendingAction
    ) -> Outcome:
        now = self.clock()
        ts = max(filter(None, (rec.last_ts_ns, n.timestamp_ns)), default=None)
        newest = n.timestamp_ns is None or rec.last_ts_ns is None or n.timestamp_ns >= rec.last_ts_ns
        base = rec.copy(updated_at=now, last_ts_ns=ts, occurrence=d.occurrence, attempts=action.attempts + 1)
        if newest:
            base = base.copy(last_type=n.type.value, last_digest=hashlib.sha256(action.payload).hexdigest())
        if d.kind is Kind.IGNORE:
            state = State.CLEARED_UNKNOWN if rec.state is State.PENDING else rec.state
            if d.reason == "stale":
                base = base.copy(last_ts_ns=rec.last_ts_ns, last_type=rec.last_type, last_digest=rec.last_digest)
            return Outcome(base.copy(state=state), "ignored")
        if d.kind is Kind.SKIP:
            return Outcome(
                base.copy(state=State.SKIPPED, severity=n.severity.value, title=n.title, incident_id=None,
                          reference=None, permalink=None, last_error=None),
                "skipped",
            )
        if d.kind is Kind.MARK_CLEARED:
            return Outcome(base.copy(state=State.CLEARED_LEFT_OPEN), None, (
                "IncidentCleared",
                f"{rec.reference}: Causely cleared the finding; left open (no resolvedStatusName configured)",
                False,
            ))
        try:
            if d.kind is Kind.CREATE:
                return await self._create(d, base, n)
            if d.kind is Kind.RECOVER:
                return await self._recover(d, base, n)
            # Look before editing: an incident a human already resolved or closed is recorded, never edited. Found
            # resolved before a resolve, it is the clear's goal reached (an earlier attempt whose answer was lost).
            ended = await self._ended_outside(base, resolving=d.kind is Kind.RESOLVE)
            if (ended is not None and ended.record.state is State.RESOLVED and d.kind is not Kind.RESOLVE
                    and base.resolve_attempted is not None and base.resolve_attempted < base.occurrence):
                # The incident carried into this occurrence was resolved by the operator's resolve of an earlier
                # one (sent, its answer lost): this occurrence has no incident yet — decide again without it.
                fresh = FindingRecord(base.destination_id, base.object_id, occurrence=base.occurrence,
                                      created_at=base.created_at)
                again = decide_for_occurrence(fresh, n, self.config, None)
                return await self._execute(again, fresh, n, action)
            if ended is not None:
                return ended
            if d.kind is Kind.UPDATE:
                return await self._update(base, n)
            return await self._resolve(base)
        except IncidentIOError as exc:
            if is_auth_failure(exc):
                raise
            if _transient(exc):
                raise TransientFailure(str(exc)) from exc
            return await self._permanent_failure(d, base, exc)
        except (CatalogLookupError, SeverityResolutionError) as exc:
            return self._failed(d, base, str(exc))

    async def _create(self, d: Decision, base: FindingRecord, n: Notification) -> Outcome:
        c = self.config
        severity = await self.catalog.severity_for(
            n.severity.value, severity_id=c.severity_id, severity_map=c.severity_map, severity_rule=c.severity_rule
        )
        type_id = c.incident_type_id
        if type_id is None:
            default_type = await self.catalog.default_incident_type()
            type_id = default_type.id if default_type else None
        occurrence = d.occurrence
        intend = getattr(self.journal, "intend_create", None)
        if intend is not None:  # write-ahead, so a clear that supersedes an unrecorded create can find it
            await intend(base, occurrence)
        summary = await render_off_loop(n)
        for _ in range(MAX_REPLAYED_ENDED):
            incident = await self.client.create_incident(
                idempotency_key=idempotency_key(self.destination_id, n.object_id, occurrence),
                visibility=c.visibility,
                name=render_title(n),
                summary=summary,
                severity_id=severity.id,
                incident_type_id=type_id,
                mode=c.mode,
            )
            status = incident.incident_status
            if not status.is_terminal and not status.is_resolved:
                break
            # The key replayed an incident that has already ended. If it was opened for this very detection
            # (we crashed before recording it, and a human closed it since), the human wins: record it.
            # If it predates this detection, its record was pruned or lost: that occurrence is over, so open
            # the next one instead of reviving it.
            if n.timestamp is None or incident.created_at >= n.timestamp:
                record = self._with_incident(base, incident).copy(
                    state=State.CLOSED_OUTSIDE, occurrence=occurrence, severity=n.severity.value, title=n.title,
                    last_error=None, create_attempted=None,
                )
                return Outcome(record, None, (
                    "IncidentClosedOutside",
                    f"{incident.reference} for {n.object_id} was already {status.name} ({status.category}) in "
                    "incident.io; recorded, not reopened", False,
                ))
            occurrence += 1
        else:
            # Every key tried names an incident that ended before this detection: the occurrence count was lost
            # further back than this looks. Say so rather than record an ended incident as open.
            return self._failed(d, base.copy(occurrence=occurrence, create_attempted=None), (
                f"the idempotency keys of {MAX_REPLAYED_ENDED} occurrences up to {occurrence - 1} all name "
                f"incidents that already ended (the latest {incident.reference}); no incident was opened"
            ))
        record = self._with_incident(base, incident).copy(
            state=State.OPEN, occurrence=occurrence, severity=n.severity.value, title=n.title, last_error=None,
            incident_severity=severity.name, create_attempted=None,
        )
        return Outcome(record, "created", (
            "IncidentCreated",
            f"created {incident.reference} for {n.object_id} ({n.severity.value} → {severity.name}): {n.title}",
            False,
        ))

    async def _recover(self, d: Decision, base: FindingRecord, n: Notification) -> Outcome:
        """A clear for an occurrence whose create was sent but never recorded: find the incident, then resolve.

        The create is replayed with the occurrence's key: incident.io answers with the incident it made, if it
        did (and only when it had not, this makes one — opened and resolved at once, which is what happened).
        """
        created = await self._create(d, base.copy(create_attempted=None), n)
        record = created.record
        if not record.has_incident:
            return created  # replayed an incident a human already ended, or refused: recorded as it is
        if not self.config.resolved_status_name:
            return Outcome(record.copy(state=State.CLEARED_LEFT_OPEN), created.counter, created.event)
        resolved = await self._resolve(record)
        return Outcome(resolved.record, resolved.counter, resolved.event)

    async def _update(self, base: FindingRecord, n: Notification) -> Outcome:
        assert base.incident_id is not None
        c = self.config
        severity = await self.catalog.severity_for(
            n.severity.value, severity_id=c.severity_id, severity_map=c.severity_map, severity_rule=c.severity_rule
        )
        # notifyChannel is documented (Causely) as notifying the channel on resolution: an update never does.
        incident = await self.client.edit_incident(
            base.incident_id, notify_incident_channel=False, severity_id=severity.id,
            summary=await render_off_loop(n),
        )
        status = incident.incident_status
        if status.is_resolved or status.is_terminal:  # a human ended it between our look and our edit
            return Outcome(
                self._with_incident(base, incident).copy(state=State.CLOSED_OUTSIDE, last_error=None), None,
                ("IncidentClosedOutside",
                 f"{incident.reference} was moved to {status.name} ({status.category}) in incident.io; "
                 "recorded, not edited again", False),
            )
        record = self._with_incident(base, incident).copy(
            state=State.OPEN, severity=n.severity.value, title=n.title, last_error=None,
            incident_severity=severity.name,
        )
        old = base.severity or "?"
        return Outcome(record, "updated", (
            "IncidentUpdated", f"updated {incident.reference}: severity {old} → {n.severity.value} ({severity.name})",
            False,
        ))

    async def _resolve(self, base: FindingRecord) -> Outcome:
        assert base.incident_id is not None and self.config.resolved_status_name
        status = await self.catalog.status_by_name(self.config.resolved_status_name)
        if not status.is_resolved:  # checked at preflight; never move an incident to a live status
            raise CatalogLookupError(
                f"resolvedStatusName {status.name!r} is not a resolved status (category {status.category})"
            )
        intend = getattr(self.journal, "intend_resolve", None)
        if intend is not None:  # write-ahead: found resolved after a crash, it is ours, not a human's
            await intend(base)
        incident = await self.client.edit_incident(
            base.incident_id, notify_incident_channel=self.config.notify_channel, incident_status_id=status.id
        )
        record = self._with_incident(base, incident).copy(state=State.RESOLVED, last_error=None,
                                                          resolve_attempted=None)
        return Outcome(record, "resolved", (
            "IncidentResolved", f"resolved {incident.reference} to status {status.name}", False,
        ))

    @staticmethod
    def _with_incident(rec: FindingRecord, incident: Incident) -> FindingRecord:
        return rec.copy(incident_id=incident.id, reference=incident.reference, permalink=incident.permalink)

    async def _permanent_failure(self, d: Decision, base: FindingRecord, exc: IncidentIOError) -> Outcome:
        """An edit that fails may mean a human already ended the incident: check before calling it failed."""
        if d.kind in (Kind.UPDATE, Kind.RESOLVE) and base.incident_id:
            ended = await self._ended_outside(base, resolving=d.kind is Kind.RESOLVE)
            if ended is not None:
                return ended
        return self._failed(d, base, str(exc))

    def _failed(self, d: Decision, base: FindingRecord, error: str) -> Outcome:
        state = State.FAILED if d.kind is Kind.CREATE else base.state
        ref = base.reference or base.object_id
        return Outcome(base.copy(state=state, last_error=error), "failed",
                       ("DeliveryFailed", f"{d.kind.value} {ref} failed: {error}", True), error)

    async def _ended_outside(self, rec: FindingRecord, *, resolving: bool = False) -> Outcome | None:
        """The incident's end, if it ended in incident.io. Found resolved while this worker is resolving it (an
        earlier attempt landed and its answer was lost), or with this occurrence's write-ahead resolve mark, the
        resolve is the operator's own."""
        assert rec.incident_id is not None
        try:
            incident = await self.client.show_incident(rec.incident_id)
        except IncidentIOError as exc:
            # A 404 is not proof a human ended it (the key may belong to another organisation): the caller
            # records a failure and the incident stays tracked.
            if is_auth_failure(exc):
                raise
            if _transient(exc):
                raise TransientFailure(str(exc)) from exc
            return None
        status = incident.incident_status
        ours = rec.resolve_attempted is not None and 1 <= rec.resolve_attempted <= rec.occurrence
        if status.is_resolved and (resolving or ours):
            # Our own resolve went through and its outcome was never recorded (a crash between the two).
            return Outcome(
                self._with_incident(rec, incident).copy(state=State.RESOLVED, last_error=None,
                                                        resolve_attempted=None),
                "resolved",
                ("IncidentResolved", f"resolved {incident.reference} to status {status.name}", False),
            )
        if status.is_resolved or status.is_terminal:
            return Outcome(
                self._with_incident(rec, incident).copy(state=State.CLOSED_OUTSIDE, last_error=None),
                None,
                ("IncidentClosedOutside",
                 f"{incident.reference} was moved to {status.name} ({status.category}) in incident.io; "
                 "recorded, not edited", False),
            )
        return None

    # -- periodic re-check of open incidents -----------------------------------------------------------
    async def recheck_open_incidents(self, limit: int = 200) -> int:
        """Record incidents humans closed in incident.io. Returns how many were found closed."""
        self._last_recheck = self.clock()
        found = 0
        records = [r for r in await self.journal.records(self.destination_id) if r.has_incident]
        random.shuffle(records)  # a large backlog is covered over several passes
        for rec in records[:limit]:
            if await self.journal.has_pending(self.destination_id, rec.object_id):
                continue  # its own action will look (a resolve that landed unrecorded is ours, not a human's)
            try:
                outcome = await self._ended_outside(rec)
            except (IncidentIOError, TransientFailure):
                return found
            if outcome is None:
                continue
            found += 1
            await self.journal.save_record(
                outcome.record, outcome.counter,
                HistoryEntry(self.destination_id, rec.object_id, "recheck", "record", outcome.record.state.value,
                             reference=rec.reference, at=self.clock()),
            )
            if outcome.counter:
                self.metrics.incidents.labels(destination=self.destination_id, action=outcome.counter).inc()
            if outcome.event:
                self.events(self.destination_id, outcome.event[0], outcome.event[1], warning=outcome.event[2],
                            object_id=rec.object_id)
        if found:
            self._changed()
        return found
