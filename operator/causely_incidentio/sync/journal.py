"""The journal: the durable record of accepted notifications and of what was done about each finding.

The receiver answers 202 only after :meth:`Journal.accept` returns, so an accepted notification survives a
crash; workers drain :meth:`Journal.pending` and write each outcome with :meth:`Journal.complete`, which
removes the action and updates the finding's record in one transaction. Two implementations share the
protocol: :class:`SqliteJournal` here (standalone mode) and the Kubernetes-status journal in ``kube/``.

Group commit: concurrent ``accept`` calls that arrive while a commit is in flight are written together in
the next transaction, so one fsync acknowledges many notifications.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from causely_incidentio.sync.records import (
    COUNTER_NAMES,
    Counters,
    FindingRecord,
    Intake,
    PendingAction,
    State,
)

T = TypeVar("T")


class JournalUnavailable(RuntimeError):
    """The journal cannot persist: the receiver answers 503 so the sender retries."""


class DestinationRefused(JournalUnavailable):
    """Some destinations refused a notification for good; every other routed destination has it durably."""

    def __init__(self, refused: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{d}: {why}" for d, why in refused.items()))
        self.refused = dict(refused)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of the audit trail: what a notification led to."""

    destination_id: str
    object_id: str
    notification_type: str
    decision: str
    reason: str
    reference: str | None = None
    error: str | None = None
    at: float = 0.0


class Journal(Protocol):
    async def accept(self, intakes: Sequence[Intake]) -> None: ...
    def is_known(self, destination_id: str, object_id: str) -> bool: ...
    async def has_pending(self, destination_id: str, object_id: str) -> bool: ...
    async def pending(self, destination_id: str, limit: int = 500) -> list[PendingAction]: ...
    async def pending_count(self, destination_id: str | None = None) -> int: ...
    async def record(self, destination_id: str, object_id: str) -> FindingRecord | None: ...
    async def records(self, destination_id: str | None = None) -> list[FindingRecord]: ...
    async def complete(
        self, action: PendingAction, record: FindingRecord, counter: str | None, history: HistoryEntry
    ) -> None: ...
    async def retry_later(
        self, action: PendingAction, error: str, *, delay: float | None = None, strike: bool = False
    ) -> None: ...
    async def save_record(self, record: FindingRecord, counter: str | None, history: HistoryEntry) -> None: ...
    async def counters(self, destination_id: str) -> Counters: ...
    async def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    destination_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS pending_by_destination ON pending (destination_id, seq);
CREATE INDEX IF NOT EXISTS pending_by_finding ON pending (destination_id, object_id, seq);
CREATE TABLE IF NOT EXISTS findings (
    destination_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    state TEXT NOT NULL,
    occurrence INTEGER NOT NULL,
    incident_id TEXT,
    reference TEXT,
    permalink TEXT,
    severity TEXT,
    title TEXT,
    last_ts_ns INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (destination_id, object_id)
);
CREATE TABLE IF NOT EXISTS occurrences (
    destination_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    occurrence INTEGER NOT NULL,
    PRIMARY KEY (destination_id, object_id)
);
CREATE TABLE IF NOT EXISTS counters (
    destination_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (destination_id, name)
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    destination_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    notification_type TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT NOT NULL,
    reference TEXT,
    error TEXT
);
"""

FINDING_COLUMNS = (
    "destination_id, object_id, state, occurrence, incident_id, reference, permalink, severity, title, "
    "last_ts_ns, attempts, last_error, created_at, updated_at, create_attempted, resolve_attempted, last_type, "
    "last_digest"
)
# Columns added after the first release: (table, column, declaration); added to an older file on open.
ADDED_COLUMNS = (
    ("pending", "not_before", "REAL NOT NULL DEFAULT 0"),
    ("pending", "strikes", "INTEGER NOT NULL DEFAULT 0"),
    ("findings", "create_attempted", "INTEGER"),
    ("findings", "resolve_attempted", "INTEGER"),
    ("findings", "last_type", "TEXT"),
    ("findings", "last_digest", "TEXT"),
)
PENDING_COLUMNS = "seq, destination_id, object_id, payload, received_at, attempts, last_error, NULL, strikes"
# Only the head of a finding's queue is ever retried, so a finding backs off exactly while one of its rows has
# ``not_before`` in the future: those findings are skipped, every other finding's actions run in arrival order.
BLOCKED = "SELECT object_id FROM pending WHERE destination_id = ? AND not_before > ?"
READY_ACTIONS = (
    f"SELECT {PENDING_COLUMNS} FROM pending WHERE destination_id = ? AND object_id NOT IN ({BLOCKED}) "  # noqa: S608
    "ORDER BY seq"
)
SCAN_FACTOR = 20  # pending() reads at most this many times ``limit`` rows to fill a batch
HISTORY_KEEP = 20_000
ENDED_RETENTION_SECONDS = 30 * 24 * 3600  # ended records older than this are pruned (a later detection is new)
ENDED_STATES = ("resolved", "closed-outside", "skipped", "failed", "cleared-unknown")


def _row_to_record(row: Sequence[Any]) -> FindingRecord:
    return FindingRecord(
        destination_id=row[0], object_id=row[1], state=State(row[2]), occurrence=row[3], incident_id=row[4],
        reference=row[5], permalink=row[6], severity=row[7], title=row[8], last_ts_ns=row[9],
        attempts=row[10], last_error=row[11], created_at=row[12], updated_at=row[13], create_attempted=row[14],
        resolve_attempted=row[15], last_type=row[16], last_digest=row[17],
    )


def _record_values(r: FindingRecord) -> tuple[Any, ...]:
    return (
        r.destination_id, r.object_id, r.state.value, r.occurrence, r.incident_id, r.reference, r.permalink,
        r.severity, r.title, r.last_ts_ns, r.attempts, r.last_error, r.created_at, r.updated_at,
        r.create_attempted, r.resolve_attempted, r.last_type, r.last_digest,
    )


class SqliteJournal:
    """SQLite (WAL, ``synchronous=FULL``) journal; every statement runs on one dedicated thread."""

    backs_off_per_finding = True  # retry_later holds back one finding's queue; the worker goes on with the rest

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._conn: sqlite3.Connection | None = None
        self._known: set[tuple[str, str]] = set()
        self._queue: list[tuple[Sequence[Intake], asyncio.Future[None]]] = []
        self._flushing = False
        self.commits = 0  # transactions written by accept(); for the group-commit benchmark

    # -- lifecycle -------------------------------------------------------------------------------------
    @classmethod
    async def open(cls, path: str | Path) -> SqliteJournal:
        journal = cls(path)
        await journal._run(journal._open)
        return journal

    def _open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(SCHEMA)
        for table, column, declaration in ADDED_COLUMNS:
            if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        conn.execute("CREATE INDEX IF NOT EXISTS pending_backing_off ON pending (destination_id, not_before)")
        # The high-water mark of findings recorded before it existed.
        conn.execute(
            "INSERT INTO occurrences (destination_id, object_id, occurrence) "
            "SELECT destination_id, object_id, occurrence FROM findings WHERE true "
            "ON CONFLICT (destination_id, object_id) DO UPDATE SET occurrence = MAX(occurrence, excluded.occurrence)"
        )
        self._conn = conn
        for dest, oid in conn.execute(
            "SELECT destination_id, object_id FROM findings UNION SELECT destination_id, object_id FROM pending"
        ):
            self._known.add((dest, oid))

    async def close(self) -> None:
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalUnavailable("journal is closed")
        return self._conn

    # -- intake ----------------------------------------------------------------------------------------
    async def accept(self, intakes: Sequence[Intake]) -> None:
        """Durably store ``intakes``; returns only once they are committed (or raises JournalUnavailable)."""
        if not intakes:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((intakes, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                rows = self._rows(batch)
                try:
                    await self._run(self._insert_pending, rows)
                except Exception as exc:  # disk full, read-only file, closed journal, one row it cannot store...
                    if len(batch) == 1:
                        self._settle(batch[0], exc)
                        continue
                    # One bad row must not fail the others: write each request's rows on their own.
                    for one in batch:
                        try:
                            await self._run(self._insert_pending, self._rows([one]))
                        except Exception as each:
                            self._settle(one, each)
                        else:
                            self.commits += 1
                            self._settle(one, None)
                    continue
                self.commits += 1
                for one in batch:
                    self._settle(one, None)
        finally:
            self._flushing = False

    @staticmethod
    def _rows(batch: Sequence[tuple[Sequence[Intake], asyncio.Future[None]]]) -> list[tuple[str, str, bytes, float]]:
        return [(i.destination_id, i.object_id, i.payload, i.received_at) for intakes, _ in batch for i in intakes]

    def _settle(self, entry: tuple[Sequence[Intake], asyncio.Future[None]], exc: Exception | None) -> None:
        intakes, fut = entry
        if exc is None:
            for i in intakes:
                self._known.add((i.destination_id, i.object_id))
            if not fut.done():
                fut.set_result(None)
        elif not fut.done():
            fut.set_exception(JournalUnavailable(f"cannot write the journal at {self.path}: {type(exc).__name__}: "
                                                 f"{str(exc)[:200]}"))

    def _insert_pending(self, rows: list[tuple[str, str, bytes, float]]) -> None:
        conn = self.conn
        with conn:  # one transaction
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO pending (destination_id, object_id, payload, received_at) VALUES (?, ?, ?, ?)", rows
            )

    def is_known(self, destination_id: str, object_id: str) -> bool:
        return (destination_id, object_id) in self._known

    # -- reads -----------------------------------------------------------------------------------------
    async def pending(self, destination_id: str, limit: int = 500) -> list[PendingAction]:
        """Actions that may run now, oldest first: every finding whose next action is not backing off, with at
        most a tenth of ``limit`` actions of any one finding, so a finding with a long queue never fills a batch.
        """
        def q() -> list[PendingAction]:
            per_finding = max(1, limit // 10)
            taken: dict[str, int] = {}
            actions: list[PendingAction] = []
            cursor = self.conn.execute(READY_ACTIONS, (destination_id, destination_id, time.time()))
            for scanned, row in enumerate(cursor):
                if len(actions) >= limit or scanned >= SCAN_FACTOR * limit:
                    break
                n = taken.get(row[2], 0)
                if n < per_finding:
                    taken[row[2]] = n + 1
                    actions.append(PendingAction(*row))
            cursor.close()
            return actions

        result: list[PendingAction] = await self._run(q)
        return result

    async def heads(self, destination_id: str) -> list[PendingAction]:
        """Each finding's next action — the one retried —, findings backing off included (the status command)."""
        def q() -> list[PendingAction]:
            return [PendingAction(*row) for row in self.conn.execute(
                f"SELECT {PENDING_COLUMNS} FROM pending WHERE seq IN "  # noqa: S608
                "(SELECT MIN(seq) FROM pending WHERE destination_id = ? GROUP BY object_id) ORDER BY seq",
                (destination_id,),
            )]

        result: list[PendingAction] = await self._run(q)
        return result

    async def has_pending(self, destination_id: str, object_id: str) -> bool:
        """Does this finding have an action waiting (backing off included)?"""
        def q() -> bool:
            return self.conn.execute(
                "SELECT 1 FROM pending WHERE destination_id = ? AND object_id = ? LIMIT 1", (destination_id, object_id)
            ).fetchone() is not None

        result: bool = await self._run(q)
        return result

    async def pending_count(self, destination_id: str | None = None) -> int:
        """Actions that may run now (those of a finding backing off count once its wait is over)."""
        def q() -> int:
            if destination_id is None:
                row = self.conn.execute("SELECT COUNT(*) FROM pending").fetchone()
            else:
                row = self.conn.execute(
                    f"SELECT COUNT(*) FROM pending WHERE destination_id = ? AND object_id NOT IN ({BLOCKED})",  # noqa: S608
                    (destination_id, destination_id, time.time()),
                ).fetchone()
            return int(row[0])

        result: int = await self._run(q)
        return result

    async def backlog(self, destination_id: str) -> tuple[int, float, float | None]:
        """(actions pending, age in seconds of the oldest, when the next one backing off is due) — stuck work
        included, for the pending gauges and /readyz."""
        def q() -> tuple[int, float, float | None]:
            now = time.time()
            count = self.conn.execute(
                "SELECT COUNT(*) FROM pending WHERE destination_id = ?", (destination_id,)
            ).fetchone()[0]
            first = self.conn.execute(
                "SELECT received_at FROM pending WHERE destination_id = ? ORDER BY seq LIMIT 1", (destination_id,)
            ).fetchone()
            due = self.conn.execute(
                "SELECT MIN(not_before) FROM pending WHERE destination_id = ? AND not_before > ?",
                (destination_id, now),
            ).fetchone()[0]
            return int(count), max(0.0, now - first[0]) if first else 0.0, due

        result: tuple[int, float, float | None] = await self._run(q)
        return result

    async def occurrence_mark(self, destination_id: str, object_id: str) -> int | None:
        """The highest occurrence ever recorded for the finding; kept when its record is pruned."""
        def q() -> int | None:
            row = self.conn.execute(
                "SELECT occurrence FROM occurrences WHERE destination_id = ? AND object_id = ?",
                (destination_id, object_id),
            ).fetchone()
            return int(row[0]) if row else None

        result: int | None = await self._run(q)
        return result

    async def record(self, destination_id: str, object_id: str) -> FindingRecord | None:
        def q() -> FindingRecord | None:
            row = self.conn.execute(
                f"SELECT {FINDING_COLUMNS} FROM findings WHERE destination_id = ? AND object_id = ?",  # noqa: S608
                (destination_id, object_id),
            ).fetchone()
            return _row_to_record(row) if row else None

        result: FindingRecord | None = await self._run(q)
        return result

    async def records(self, destination_id: str | None = None) -> list[FindingRecord]:
        def q() -> list[FindingRecord]:
            sql = f"SELECT {FINDING_COLUMNS} FROM findings"  # noqa: S608
            if destination_id is None:
                rows = self.conn.execute(sql + " ORDER BY destination_id, created_at").fetchall()
            else:
                rows = self.conn.execute(
                    sql + " WHERE destination_id = ? ORDER BY created_at", (destination_id,)
                ).fetchall()
            return [_row_to_record(r) for r in rows]

        result: list[FindingRecord] = await self._run(q)
        return result

    async def counters(self, destination_id: str) -> Counters:
        def q() -> Counters:
            counters = Counters()
            for name, value in self.conn.execute(
                "SELECT name, value FROM counters WHERE destination_id = ?", (destination_id,)
            ):
                if name in COUNTER_NAMES:
                    setattr(counters, name, value)
            return counters

        result: Counters = await self._run(q)
        return result

    async def history(self, destination_id: str | None = None, limit: int = 200) -> list[HistoryEntry]:
        def q() -> list[HistoryEntry]:
            sql = (
                "SELECT destination_id, object_id, notification_type, decision, reason, reference, error, at "
                "FROM history"
            )
            params: tuple[Any, ...] = (limit,)
            if destination_id is not None:
                sql += " WHERE destination_id = ?"
                params = (destination_id, limit)
            rows = self.conn.execute(sql + " ORDER BY id DESC LIMIT ?", params).fetchall()
            return [HistoryEntry(*row) for row in reversed(rows)]

        result: list[HistoryEntry] = await self._run(q)
        return result

    async def destination_ids(self) -> list[str]:
        def q() -> list[str]:
            rows = self.conn.execute(
                "SELECT destination_id FROM findings UNION SELECT destination_id FROM pending "
                "UNION SELECT destination_id FROM counters ORDER BY 1"
            ).fetchall()
            return [r[0] for r in rows]

        result: list[str] = await self._run(q)
        return result

    # -- writes by workers -----------------------------------------------------------------------------
    @staticmethod
    def _put_record(conn: sqlite3.Connection, record: FindingRecord) -> None:
        """Write the record and raise the finding's occurrence high-water mark (which pruning keeps)."""
        conn.execute(
            f"INSERT OR REPLACE INTO findings ({FINDING_COLUMNS}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(_record_values(record)))})",
            _record_values(record),
        )
        conn.execute(
            "INSERT INTO occurrences (destination_id, object_id, occurrence) VALUES (?, ?, ?) "
            "ON CONFLICT (destination_id, object_id) DO UPDATE SET occurrence = MAX(occurrence, excluded.occurrence)",
            (record.destination_id, record.object_id, max(record.occurrence, record.create_attempted or 0)),
        )

    def _write_outcome(
        self, seq: int | None, record: FindingRecord, counter: str | None, history: HistoryEntry
    ) -> list[tuple[str, str]]:
        """Returns the findings whose records housekeeping pruned."""
        conn = self.conn
        pruned: list[tuple[str, str]] = []
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            if seq is not None:
                conn.execute("DELETE FROM pending WHERE seq = ?", (seq,))
            self._put_record(conn, record)
            if counter is not None:
                conn.execute(
                    "INSERT INTO counters (destination_id, name, value) VALUES (?, ?, 1) "
                    "ON CONFLICT (destination_id, name) DO UPDATE SET value = value + 1",
                    (record.destination_id, counter),
                )
            cur = conn.execute(
                "INSERT INTO history (at, destination_id, object_id, notification_type, decision, reason, "
                "reference, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (history.at or time.time(), history.destination_id, history.object_id,
                 history.notification_type, history.decision, history.reason, history.reference, history.error),
            )
            if cur.lastrowid and cur.lastrowid % 1000 == 0:  # housekeeping, every thousand outcomes
                conn.execute("DELETE FROM history WHERE id <= ?", (cur.lastrowid - HISTORY_KEEP,))
                pruned = conn.execute(
                    f"DELETE FROM findings WHERE state IN ({','.join('?' * len(ENDED_STATES))}) "  # noqa: S608
                    "AND updated_at < ? AND NOT EXISTS (SELECT 1 FROM pending p WHERE "
                    "p.destination_id = findings.destination_id AND p.object_id = findings.object_id) "
                    "RETURNING destination_id, object_id",
                    (*ENDED_STATES, time.time() - ENDED_RETENTION_SECONDS),
                ).fetchall()
        return pruned

    def _outcome_written(self, record: FindingRecord, pruned: list[tuple[str, str]]) -> None:
        """Keep the routing index to the findings the journal holds: it never outgrows the file."""
        for key in pruned:
            self._known.discard((key[0], key[1]))
        self._known.add((record.destination_id, record.object_id))

    async def complete(
        self, action: PendingAction, record: FindingRecord, counter: str | None, history: HistoryEntry
    ) -> None:
        self._outcome_written(record, await self._run(self._write_outcome, action.seq, record, counter, history))

    async def save_record(self, record: FindingRecord, counter: str | None, history: HistoryEntry) -> None:
        self._outcome_written(record, await self._run(self._write_outcome, None, record, counter, history))

    async def retry_later(
        self, action: PendingAction, error: str, *, delay: float | None = None, strike: bool = False
    ) -> None:
        """Count the failed attempt and hold this finding's queue back for ``delay`` seconds (others go on)."""
        def q() -> None:
            with self.conn:
                self.conn.execute(
                    "UPDATE pending SET attempts = attempts + 1, strikes = strikes + ?, last_error = ?, "
                    "not_before = ? WHERE seq = ?",
                    (int(strike), error, time.time() + (delay or 0.0), action.seq),
                )

        await self._run(q)

    async def _intend(self, record: FindingRecord, **marker: int) -> None:
        """Write-ahead: mark the finding's record (as it is now, or ``record`` if none) before an API call."""
        def q() -> None:
            conn = self.conn
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute(
                    f"SELECT {FINDING_COLUMNS} FROM findings WHERE destination_id = ? AND object_id = ?",  # noqa: S608
                    (record.destination_id, record.object_id),
                ).fetchone()
                self._put_record(conn, (_row_to_record(row) if row else record).copy(**marker))

        await self._run(q)
        self._known.add((record.destination_id, record.object_id))

    async def intend_create(self, record: FindingRecord, occurrence: int) -> None:
        """Before a create: a clear that finds the action abandoned replays the key instead of assuming none."""
        await self._intend(record, create_attempted=occurrence)

    async def intend_resolve(self, record: FindingRecord) -> None:
        """Before a resolve: an incident later found resolved with this mark was resolved by the operator."""
        await self._intend(record, resolve_attempted=record.occurrence)
