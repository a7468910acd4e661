"""``causely-incidentio status --state FILE``: what the standalone journal knows, as a table or JSON.

Every value in the table comes from a sender (titles, objectIds) or a server (errors), so it is shown as
plain text: rich would otherwise read ``[/]`` or ``[red]`` in a title as markup and fail or restyle it, and
control characters become spaces so a title cannot send escape sequences to the terminal.

Each destination also shows what its findings say about deliveries — the reason and message the operator's
``Degraded`` condition would carry (``DeliveriesFailing``, ``IncidentIOUnreachable``, ``RateLimited``, or
``AsExpected``). The configuration and key checks live in the running process (``/readyz``, its log), not in the
journal, so they are not shown here.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from causely_incidentio.kube.status import Attempt, assess_deliveries
from causely_incidentio.sync.journal import SqliteJournal
from causely_incidentio.sync.records import FindingRecord, PendingAction


def deliveries(pending: list[PendingAction], records: list[FindingRecord], now: float) -> dict[str, str]:
    """The Degraded reason and message the findings of one destination call for (kube/status.py's rules)."""
    attempts: dict[str, Attempt] = {}
    for action in pending:  # each finding's next action: the one being retried
        attempts.setdefault(action.object_id, Attempt(action.last_error, action.attempts, True, now))
    for r in records:
        if r.object_id not in attempts and r.last_error:
            attempts[r.object_id] = Attempt(r.last_error, r.attempts, False, r.updated_at)
    trouble = assess_deliveries(attempts.values(), now=now)
    if trouble is None:
        return {"reason": "AsExpected", "message": "no finding is failing"}
    return {"reason": trouble.reason, "message": trouble.message}


async def collect(state: str) -> dict[str, Any]:
    journal = await SqliteJournal.open(state)
    try:
        result: dict[str, Any] = {"destinations": []}
        for dest in await journal.destination_ids():
            records = await journal.records(dest)
            pending = await journal.heads(dest)  # backing off included: the stuck work this command shows
            result["destinations"].append({
                "id": dest,
                "counters": (await journal.counters(dest)).as_dict(),
                "pending": (await journal.backlog(dest))[0],
                "openIncidents": sum(1 for r in records if r.has_incident),
                "deliveries": deliveries(pending, records, time.time()),
                "findings": [
                    {**{k: v for k, v in dataclasses.asdict(r).items() if k != "destination_id"},
                     "state": r.state.value}
                    for r in records
                ],
            })
        return result
    finally:
        await journal.close()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _plain(value: str) -> Text:
    """Sender text as a table cell: never markup, never a control sequence (each run becomes a space)."""
    return Text(_CONTROL.sub(" ", value))


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if not Path(args.state).exists():
        out.write(f"{args.state}: no such journal\n")
        return 2
    data = asyncio.run(collect(args.state))
    if args.output == "json":
        out.write(json.dumps(data, indent=2) + "\n")
        return 0
    console = Console(file=out)
    for dest in data["destinations"]:
        c = dest["counters"]
        table = Table(title=_plain(f"{dest['id']}: open {dest['openIncidents']}, pending {dest['pending']}, "
                                 f"created {c['created']}, updated {c['updated']}, resolved {c['resolved']}, "
                                 f"skipped {c['skipped']}, failed {c['failed']}"))
        for col in ("Finding", "State", "Incident", "Severity", "Title", "Last error"):
            table.add_column(col)
        for f in dest["findings"]:
            table.add_row(*(_plain(str(v)) for v in (
                f["object_id"], f["state"], f["reference"] or "-", f["severity"] or "-",
                (f["title"] or "-")[:60], (f["last_error"] or "")[:80],
            )))
        console.print(table)
        health = dest["deliveries"]
        console.print(_plain(f"deliveries: {health['reason']}: {health['message']}"))
    if not data["destinations"]:
        out.write("the journal is empty\n")
    return 0
