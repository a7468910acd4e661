"""``causely-incidentio status`` shows sender text as text: rich markup and escape sequences are not obeyed.

Before: a finding titled ``evil[/]`` made the command crash with rich's MarkupError, and ``[red]`` restyled
the table.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from causely_incidentio import statuscmd
from causely_incidentio.incidentio.errors import ServerError, ValidationError
from causely_incidentio.sync.journal import HistoryEntry, SqliteJournal
from causely_incidentio.sync.records import FindingRecord, Intake, State


def journal_with(title: str, *, last_error: str = "", dest_id: str = "secret/causely/primary") -> dict[str, Any]:
    finding = {"object_id": "o-1[/]", "state": "open", "reference": "INC-1", "severity": "High",
               "title": title, "last_error": last_error}
    counters = {"created": 1, "updated": 0, "resolved": 0, "skipped": 0, "failed": 0}
    return {"destinations": [{"id": dest_id, "counters": counters, "pending": 0, "openIncidents": 1,
                              "deliveries": {"reason": "AsExpected", "message": "no finding is failing"},
                              "findings": [finding]}]}


def squeezed(text: str) -> str:
    """The table's text without borders, padding and line breaks (narrow columns wrap long cells)."""
    return "".join(c for c in text if not c.isspace() and not "\u2500" <= c <= "\u257f")


def table_for(data: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    async def collect(state: str) -> dict[str, Any]:
        return data

    monkeypatch.setattr(statuscmd, "collect", collect)
    state = tmp_path / "journal.sqlite"
    state.write_bytes(b"")
    out = io.StringIO()
    assert statuscmd.run(argparse.Namespace(state=str(state), output="table"), out) == 0
    return out.getvalue()


@pytest.mark.parametrize("title", ["evil[/]", "[/]", "[bold]loud", "[link=x]c[/link]", "a[/b]c"])
def test_markup_in_a_title_is_shown_as_written(title: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = squeezed(table_for(journal_with(title), tmp_path, monkeypatch))
    assert title in text and "o-1[/]" in text


def test_markup_in_the_destination_and_error_is_shown_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = squeezed(table_for(journal_with("t", last_error="[red]boom[/]", dest_id="d[/]"), tmp_path, monkeypatch))
    assert "[red]boom[/]" in text and "d[/]:" in text


def test_escape_sequences_do_not_reach_the_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = table_for(journal_with("a\x1b[2Jb\x07c"), tmp_path, monkeypatch)
    assert "\x1b" not in text and "\x07" not in text and "a [2Jb c" in text


# -- a real journal: the deliveries line (the Degraded condition's reason) and markup, end to end -------------

DEST = "secret/causely/primary"
BODY = "what-incidentio-answered-7c1d"


async def _journal(path: Path, *, failed_title: str, retrying_error: str | None, retries: int) -> None:
    journal = await SqliteJournal.open(path)
    try:
        now = time.time()
        await journal.accept([Intake(DEST, "stuck", b"{}", now), Intake(DEST, "refused", b"{}", now)])
        actions = {a.object_id: a for a in await journal.pending(DEST)}
        refusal = str(ValidationError(BODY, endpoint="POST /v2/incidents", status=422))
        record = FindingRecord(DEST, "refused", state=State.FAILED, title=failed_title, attempts=1,
                               last_error=refusal, created_at=now, updated_at=now)
        await journal.complete(actions["refused"], record, "failed",
                               HistoryEntry(DEST, "refused", "ProblemDetected", "create", "failed", at=now))
        for _ in range(retries):
            (action,) = await journal.pending(DEST)
            await journal.retry_later(action, retrying_error or "")
    finally:
        await journal.close()


def _run(path: Path, output: str) -> str:
    out = io.StringIO()
    assert statuscmd.run(argparse.Namespace(state=str(path), output=output), out) == 0
    return out.getvalue()


def test_a_refused_create_shows_deliveries_failing_and_a_markup_title_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    asyncio.run(_journal(path, failed_title="evil[/]", retrying_error=None, retries=0))
    table = _run(path, "table")
    assert "deliveries: DeliveriesFailing:" in table and "evil[/]" in squeezed(table)
    (dest,) = json.loads(_run(path, "json"))["destinations"]
    assert dest["deliveries"]["reason"] == "DeliveriesFailing"
    assert "POST /v2/incidents: HTTP 422 (1)" in dest["deliveries"]["message"]
    assert BODY not in json.dumps(dest["deliveries"])


def test_a_refusal_outranks_a_finding_retried_against_a_5xx(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    down = str(ServerError(BODY, endpoint="POST /v2/incidents", status=503))
    asyncio.run(_journal(path, failed_title="t", retrying_error=down, retries=3))
    (dest,) = json.loads(_run(path, "json"))["destinations"]
    assert dest["deliveries"]["reason"] == "DeliveriesFailing" and "HTTP 503" not in dest["deliveries"]["message"]
    records, pending = dest["findings"], dest["pending"]
    assert pending == 1 and {f["object_id"] for f in records} == {"refused"}


def test_a_finding_retried_against_a_5xx_shows_incidentio_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    down = str(ServerError(BODY, endpoint="POST /v2/incidents", status=503))

    async def only_retries() -> None:
        journal = await SqliteJournal.open(path)
        try:
            await journal.accept([Intake(DEST, "stuck", b"{}", time.time())])
            for attempt in range(3):
                (action,) = await journal.pending(DEST)
                assert action.attempts == attempt
                await journal.retry_later(action, down)
        finally:
            await journal.close()

    asyncio.run(only_retries())
    (dest,) = json.loads(_run(path, "json"))["destinations"]
    assert dest["deliveries"]["reason"] == "IncidentIOUnreachable"
    assert "POST /v2/incidents: HTTP 503 (1)" in dest["deliveries"]["message"]
    assert "deliveries: IncidentIOUnreachable:" in _run(path, "table")


def test_a_finding_backing_off_still_shows_in_deliveries_and_pending(tmp_path: Path) -> None:
    """The worker backs a failing finding off (``not_before`` in the future): exactly the stuck work the status
    command exists to show, so it must not read only the actions that may run now."""
    path = tmp_path / "journal.sqlite"
    down = str(ServerError(BODY, endpoint="POST /v2/incidents", status=503))

    async def backing_off() -> None:
        journal = await SqliteJournal.open(path)
        try:
            await journal.accept([Intake(DEST, "stuck", b"{}", time.time())])
            for _ in range(3):
                (action,) = await journal.pending(DEST)
                await journal.retry_later(action, down, delay=0.0)
            (action,) = await journal.pending(DEST)
            await journal.retry_later(action, down, delay=600.0)  # as the worker does: back off
            assert await journal.pending(DEST) == []
        finally:
            await journal.close()

    asyncio.run(backing_off())
    (dest,) = json.loads(_run(path, "json"))["destinations"]
    assert dest["pending"] == 1
    assert dest["deliveries"]["reason"] == "IncidentIOUnreachable"
