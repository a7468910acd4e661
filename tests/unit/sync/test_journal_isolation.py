"""The SQLite journal's group commit: one row it cannot store fails only its own request (issue 8.3)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from causely_incidentio.sync.journal import JournalUnavailable, SqliteJournal
from causely_incidentio.sync.records import Intake

DEST = "secret/causely/primary"


async def test_one_bad_row_fails_alone_and_the_rest_of_its_group_commit_is_kept(tmp_path: Path) -> None:
    journal = await SqliteJournal.open(tmp_path / "j.sqlite")
    try:
        good = [[Intake(DEST, f"finding-{i}", b"{}", time.time())] for i in range(30)]
        bad = [Intake(DEST, "bad-\ud800", b"{}", time.time())]  # a lone surrogate: SQLite cannot encode it
        results = await asyncio.gather(*(journal.accept(i) for i in [*good[:15], bad, *good[15:]]),
                                       return_exceptions=True)
        assert isinstance(results[15], JournalUnavailable)
        assert [r for i, r in enumerate(results) if i != 15] == [None] * 30
        assert await journal.pending_count() == 30
        assert journal.is_known(DEST, "finding-0") and not journal.is_known(DEST, "bad-\ud800")
    finally:
        await journal.close()


async def test_a_finding_backing_off_is_not_offered_and_does_not_hide_from_the_backlog(tmp_path: Path) -> None:
    """Issue 8.2: per-finding backoff; the backlog (gauges, wait_idle) still counts it."""
    journal = await SqliteJournal.open(tmp_path / "j.sqlite")
    try:
        await journal.accept([Intake(DEST, "stuck", b"{}", time.time() - 5), Intake(DEST, "fine", b"{}", time.time())])
        await journal.accept([Intake(DEST, "stuck", b"{}", time.time())])
        first = await journal.pending(DEST)
        assert [a.object_id for a in first] == ["stuck", "fine", "stuck"]
        await journal.retry_later(first[0], "boom", delay=60, strike=True)
        assert [a.object_id for a in await journal.pending(DEST)] == ["fine"]  # its later action waits too
        count, age, due = await journal.backlog(DEST)
        assert count == 3 and age >= 5 and due is not None and due > time.time() + 50
    finally:
        await journal.close()


@pytest.mark.parametrize("limit", [500, 20])
async def test_one_finding_with_a_long_queue_never_fills_a_batch(tmp_path: Path, limit: int) -> None:
    journal = await SqliteJournal.open(tmp_path / "j.sqlite")
    try:
        await journal.accept([Intake(DEST, "noisy", b"{}", time.time()) for _ in range(limit)])
        await journal.accept([Intake(DEST, "quiet", b"{}", time.time())])
        batch = await journal.pending(DEST, limit=limit)
        assert "quiet" in [a.object_id for a in batch]
    finally:
        await journal.close()
