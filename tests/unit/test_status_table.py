"""``causely-incidentio status`` shows sender text as text: rich markup and escape sequences are not obeyed.

Before: a finding titled ``evil[/]`` made the command crash with rich's MarkupError, and ``[red]`` restyled
the table.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest

from causely_incidentio import statuscmd


def journal_with(title: str, *, last_error: str = "", dest_id: str = "secret/causely/primary") -> dict[str, Any]:
    finding = {"object_id": "o-1[/]", "state": "open", "reference": "INC-1", "severity": "High",
               "title": title, "last_error": last_error}
    counters = {"created": 1, "updated": 0, "resolved": 0, "skipped": 0, "failed": 0}
    return {"destinations": [{"id": dest_id, "counters": counters, "pending": 0, "openIncidents": 1,
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
