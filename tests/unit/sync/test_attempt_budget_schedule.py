"""The attempt budget judges "did incident.io accept a write since this action's previous attempt?" over the
wait the journal really gave the action.

The Kubernetes Finding store backs a finding off up to 300 s, the worker's own schedule (the SQLite
journal's) only up to 60 s. Reconstructing the previous attempt with the worker's schedule made the window
too short in Kubernetes mode: a write accepted 100 s ago, after an attempt 256 s ago, did not count, so a
finding failing alone was charged far less often than it fails.
"""

from __future__ import annotations

import time
from typing import Any

from sync_helpers import OBJECT_ID, make_dest

from causely_incidentio.settings import Settings
from causely_incidentio.sync.records import PendingAction
from causely_incidentio.sync.worker import DestinationWorker, TransientFailure


class StoreLikeJournal:
    """The parts of a journal ``_drain`` uses, with the Finding store's backoff schedule (capped at 300 s)."""

    def __init__(self, action: PendingAction) -> None:
        self.action = action
        self.retried: list[bool] = []

    async def pending(self, destination_id: str, limit: int = 500) -> list[PendingAction]:
        return [self.action]

    def retry_wait(self, failures: int) -> float:
        return float(min(300.0, 2.0 * 2 ** min(max(failures - 1, 0), 16)))

    async def retry_later(self, action: PendingAction, error: str, *, delay: float | None = None,
                          strike: bool = False) -> None:
        self.retried.append(strike)


def worker_on(journal: Any) -> DestinationWorker:
    dest = make_dest()
    worker = DestinationWorker(dest, journal, settings=Settings(), max_failing_strikes=30)
    worker._preflight_done_for = dest.fingerprint

    async def fail(action: PendingAction) -> None:
        raise TransientFailure("HTTP 503")

    worker._process = fail  # type: ignore[method-assign]
    return worker


async def test_a_write_accepted_since_a_long_backoff_counts_a_strike() -> None:
    action = PendingAction(1, "d", OBJECT_ID, b"{}", time.time(), attempts=8, strikes=4)
    journal = StoreLikeJournal(action)  # its 8th failure waited min(300, 2 * 2**7) = 256 s
    worker = worker_on(journal)
    worker._last_ok = time.monotonic() - 100  # another finding's write went through 100 s ago
    await worker._drain()
    assert journal.retried == [True]


async def test_no_write_since_the_previous_attempt_is_no_strike() -> None:
    action = PendingAction(1, "d", OBJECT_ID, b"{}", time.time(), attempts=8, strikes=4)
    journal = StoreLikeJournal(action)
    worker = worker_on(journal)
    worker._last_ok = time.monotonic() - 400  # before the previous attempt: an outage, not this finding
    await worker._drain()
    assert journal.retried == [False]
