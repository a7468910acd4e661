"""The SQLite journal: durable before acknowledging, group commit, atomic outcomes, survives reopening."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from causely_incidentio.sync.journal import HistoryEntry, JournalUnavailable, SqliteJournal
from causely_incidentio.sync.records import FindingRecord, Intake, State


def intake(oid: str, dest: str = "d1", body: bytes = b"{}") -> Intake:
    return Intake(dest, oid, body, 1.0)


async def test_accepted_actions_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = await SqliteJournal.open(path)
    await j.accept([intake("a"), intake("b"), intake("c", dest="d2")])
    await j.close()
    j = await SqliteJournal.open(path)
    try:
        assert [p.object_id for p in await j.pending("d1")] == ["a", "b"]
        assert await j.pending_count() == 3
        assert j.is_known("d1", "a") and j.is_known("d2", "c") and not j.is_known("d2", "a")
    finally:
        await j.close()


async def test_concurrent_accepts_are_group_committed(tmp_path: Path) -> None:
    j = await SqliteJournal.open(tmp_path / "j.sqlite")
    try:
        await asyncio.gather(*(j.accept([intake(f"o{i}")]) for i in range(200)))
        assert await j.pending_count("d1") == 200
        assert j.commits < 200  # several acknowledgements shared a transaction
        assert [p.object_id for p in await j.pending("d1", limit=3)] == ["o0", "o1", "o2"]  # arrival order
    finally:
        await j.close()


async def test_complete_removes_the_action_and_writes_record_counter_history_atomically(tmp_path: Path) -> None:
    j = await SqliteJournal.open(tmp_path / "j.sqlite")
    try:
        await j.accept([intake("a")])
        (action,) = await j.pending("d1")
        record = FindingRecord("d1", "a", state=State.OPEN, incident_id="01X", reference="INC-7", severity="High")
        await j.complete(action, record, "created", HistoryEntry("d1", "a", "ProblemDetected", "create", "detected"))
        assert await j.pending_count("d1") == 0
        stored = await j.record("d1", "a")
        assert stored is not None and stored.state is State.OPEN and stored.reference == "INC-7"
        assert (await j.counters("d1")).created == 1
        (h,) = await j.history("d1")
        assert h.decision == "create" and h.at > 0
    finally:
        await j.close()


async def test_retry_later_keeps_the_action_with_its_error(tmp_path: Path) -> None:
    j = await SqliteJournal.open(tmp_path / "j.sqlite")
    try:
        await j.accept([intake("a")])
        (action,) = await j.pending("d1")
        await j.retry_later(action, "503 from incident.io")
        (again,) = await j.pending("d1")
        assert (again.seq, again.attempts, again.last_error) == (action.seq, 1, "503 from incident.io")
    finally:
        await j.close()


async def test_closed_journal_raises_unavailable_and_keeps_nothing_half_written(tmp_path: Path) -> None:
    j = await SqliteJournal.open(tmp_path / "j.sqlite")
    await j.accept([intake("a")])
    conn = j.conn
    await j._run(conn.close)  # the disk went away under us
    with pytest.raises(JournalUnavailable):
        await j.accept([intake("b")])
    j._conn = None
    await j.close()
    again = await SqliteJournal.open(tmp_path / "j.sqlite")
    try:
        assert [p.object_id for p in await again.pending("d1")] == ["a"]
    finally:
        await again.close()


async def test_old_ended_records_are_pruned_but_open_ones_never(tmp_path: Path) -> None:
    from causely_incidentio.sync import journal as journal_module

    j = await SqliteJournal.open(tmp_path / "j.sqlite")
    try:
        old = 1.0  # 1970: far beyond the retention
        await j.save_record(FindingRecord("d1", "ended", state=State.RESOLVED, updated_at=old), None,
                            HistoryEntry("d1", "ended", "t", "d", "r"))
        await j.save_record(FindingRecord("d1", "open", state=State.OPEN, updated_at=old), None,
                            HistoryEntry("d1", "open", "t", "d", "r"))
        for i in range(1000):  # housekeeping runs every thousand outcomes
            await j.save_record(FindingRecord("d1", f"f{i}", state=State.SKIPPED, updated_at=9e9), None,
                                HistoryEntry("d1", f"f{i}", "t", "d", "r"))
        assert await j.record("d1", "ended") is None
        assert (await j.record("d1", "open")) is not None
        assert journal_module.ENDED_RETENTION_SECONDS >= 24 * 3600
    finally:
        await j.close()
