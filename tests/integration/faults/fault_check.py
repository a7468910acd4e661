"""The invariants every schedule must keep, judged from what the runner saw (no mode-specific logic here).

1. Every finding with a 202'd notification ends in the state its last 202'd notification (Causely's ordering)
   calls for: active → exactly one live incident and a record ``open`` at that severity; cleared → no live
   incident (no resolve lost) and a record that is resolved or was never opened.
2. Exactly one incident per finding occurrence: no two incidents of a finding were created for one occurrence.
3. No action stuck: once the faults stop, the journal drains (the runner reports what was still pending).
4. No token (receiver token, incident.io API key) in any output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fault_schedule import Note

RECEIVER_TOKEN = "rcvtok-FAULTSUITE-5f1c0e9a2b7d4e36"
API_TOKEN = "inckey-FAULTSUITE-8a3d6b0c4e2f1957"
TOKENS = (RECEIVER_TOKEN, API_TOKEN)
LIVE_CATEGORIES = frozenset({"triage", "live", "active", "paused"})
OCCURRENCE = re.compile(r"fault-suite (\S+) occurrence-(\d+)")


@dataclass
class Observed:
    """What a run saw, in mode-neutral terms."""

    accepted: set[int] = field(default_factory=set)  # note indexes that got a 202
    routed_nowhere: set[int] = field(default_factory=set)  # 202'd with an empty destination list
    incidents: list[dict[str, Any]] = field(default_factory=list)  # {key, status_category, create_summaries}
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # objectId → {state, severity}
    pending: list[str] = field(default_factory=list)  # what was still pending after the faults stopped
    outputs: dict[str, str] = field(default_factory=dict)  # name → text (logs, journal bytes, bodies...)


def incidents_from(store: Iterable[Any], requests: Iterable[Any], status_category: Any) -> list[dict[str, Any]]:
    """The simulator's incidents with the occurrences their create requests named."""
    summaries: dict[str, set[str]] = {}
    for r in requests:
        body = r.body
        if r.method == "POST" and r.path == "/v2/incidents" and isinstance(body, dict):
            summaries.setdefault(str(body.get("idempotency_key")), set()).add(str(body.get("summary", "")))
    return [{"key": rec.idempotency_key, "category": status_category(rec),
             "summaries": sorted(summaries.get(rec.idempotency_key, ()))} for rec in store]


def check(notes: list[Note], seen: Observed) -> list[str]:
    """Every invariant violation, one line each (empty: the schedule passed)."""
    problems: list[str] = []
    by_finding: dict[str, list[Note]] = {}
    for i in sorted(seen.accepted):
        by_finding.setdefault(notes[i].object_id, []).append(notes[i])
    incidents: dict[str, list[dict[str, Any]]] = {}
    for inc in seen.incidents:
        oid = str(inc["key"]).rsplit("/", 2)[-2]
        incidents.setdefault(oid, []).append(inc)
    for oid, accepted in sorted(by_finding.items()):
        last = max(accepted, key=lambda n: n.order)
        live = [i for i in incidents.get(oid, []) if i["category"] in LIVE_CATEGORIES]
        rec = seen.records.get(oid)
        state = rec["state"] if rec else None
        if last.active:
            if len(live) != 1:
                problems.append(f"{oid}: last notification #{last.index} {last.type} calls for one live incident, "
                                f"found {len(live)} (of {len(incidents.get(oid, []))})")
            if state != "open" or (rec and rec.get("severity") != last.severity):
                problems.append(f"{oid}: last notification #{last.index} {last.type} {last.severity} calls for "
                                f"an open record at that severity, found {rec}")
        else:
            if live:
                problems.append(f"{oid}: last notification #{last.index} is a clear but {len(live)} incident(s) "
                                "are still live (a resolve was lost)")
            if state not in ("resolved", "cleared-unknown"):
                problems.append(f"{oid}: last notification #{last.index} is a clear; the record is {rec}")
        per_occurrence: dict[str, list[str]] = {}
        for inc in incidents.get(oid, []):
            occs = {m.group(2) for s in inc["summaries"] for m in OCCURRENCE.finditer(s) if m.group(1) == oid}
            for occ in occs:
                per_occurrence.setdefault(occ, []).append(inc["key"])
        for occ, keys in sorted(per_occurrence.items()):
            if len(keys) > 1:
                problems.append(f"{oid}: occurrence {occ} has {len(keys)} incidents: {keys}")
    for i in sorted(seen.routed_nowhere):
        problems.append(f"notification #{i} ({notes[i].type} {notes[i].object_id}) got 202 routed to no destination")
    for what in seen.pending:
        problems.append(f"still pending after the faults stopped: {what}")
    for name, text in sorted(seen.outputs.items()):
        for token in TOKENS:
            if token in text:
                which = "receiver token" if token == RECEIVER_TOKEN else "incident.io API key"
                problems.append(f"the {which} appears in {name}")
    return problems


def text_of(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def record_view(records: Iterable[Any]) -> dict[str, dict[str, Any]]:
    return {r.object_id: {"state": str(r.state.value), "severity": r.severity, "incident": r.incident_id}
            for r in records}


def summary_line(mapping: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(mapping.items()))
