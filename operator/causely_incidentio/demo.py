"""``causely-incidentio demo``: the whole product on one machine, no accounts needed.

Starts the incident.io simulator and the pipeline (receiver + SQLite journal + worker) on free loopback
ports, posts a realistic sequence of Causely notifications over HTTP exactly as Causely would, and prints
what happened in incident.io. Exit code 0 only when the outcome is the expected one, so the demo doubles as
a smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from causely_incidentio.destinations import from_secret
from causely_incidentio.logs import setup_logging
from causely_incidentio.receiver import Receiver, serve
from causely_incidentio.settings import Settings
from causely_incidentio.simulator import Simulator
from causely_incidentio.sync.journal import SqliteJournal
from causely_incidentio.sync.pipeline import Pipeline


def sample(name: str) -> dict[str, Any]:
    """A published Causely payload shipped with the package (``data/samples/payloads``)."""
    path = resources.files("causely_incidentio") / "data" / "samples" / "payloads" / name
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@dataclass(frozen=True)
class Step:
    label: str
    payload: dict[str, Any]


def demo_steps() -> list[Step]:
    """Detected, a duplicate, an update, a low-severity finding, a finding raised by an update, a clear."""
    detected = sample("detected-high-slo.json")
    detected["timestamp"] = "2026-11-26T09:00:00.000000001Z"
    updated = {**detected, "type": "ProblemUpdated", "severity": "Critical", "old_severity": "High",
               "timestamp": "2026-11-26T09:05:00Z"}
    low = sample("detected-low-docs.json")
    raised = sample("updated-low-to-high.json")
    cleared = {**detected, "type": "ProblemCleared", "timestamp": "2026-11-26T09:30:00Z", "severity": "Medium",
               "duration_ns": 1_800_000_000_000}
    return [
        Step("High finding detected", detected),
        Step("the same notification again (duplicate)", detected),
        Step("finding updated to Critical", updated),
        Step("Low finding detected (below the High threshold)", low),
        Step("another finding raised from Low to High", raised),
        Step("first finding cleared (reported at Medium)", cleared),
    ]


def demo_secret(token: str) -> dict[str, Any]:
    """A destination in Causely's published Secret format, plus the optional resolved-status key."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "incidentio-notification-config", "namespace": "causely",
                     "labels": {"causely.ai/notif-config": "IncidentIO"}},
        "stringData": {
            "notif_config_name": "incidentIO",
            "notif_config_type": "IncidentIO",
            "notif_config_token": token,
            "notif_config_url": "",
            "notif_config_global": "false",
            "notif_config_filters_enabled": "true",
            "notif_config_filters": "[]",
            "notif_config_resolved_status_name": "Resolved",
        },
    }


async def run_demo(latency_ms: float, console: Console) -> int:
    api_token = "demo-" + secrets.token_hex(8)
    receiver_token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="causely-demo-") as tmp:
        async with Simulator(tokens=[api_token], latency_ms=latency_ms) as sim:
            # the simulator is plain http on loopback: allowed only because it is listed, as an installer would
            settings = Settings(incident_io_api_url=sim.base_url, incident_io_allowed_api_urls=sim.base_url)
            journal = await SqliteJournal.open(Path(tmp) / "journal.sqlite")
            pipeline = Pipeline(journal, settings)
            pipeline.set_destinations([from_secret(demo_secret(api_token), settings)])
            runner, port = await serve(Receiver(pipeline, token=receiver_token).app(), "127.0.0.1", 0)
            url = f"http://127.0.0.1:{port}/notifications"
            console.print(f"[bold]incident.io simulator:[/] {sim.base_url}")
            console.print(f"[bold]receiver:[/] {url}\n")
            try:
                codes: list[int] = []
                steps = demo_steps()
                async with httpx.AsyncClient(timeout=10) as http:
                    for step in steps:
                        resp = await http.post(url, json=step.payload,
                                               headers={"Authorization": f"Bearer {receiver_token}"})
                        codes.append(resp.status_code)
                        await pipeline.wait_idle(timeout=60)
                history = await journal.history()
                console.print(steps_table(steps, codes, history))
                console.print(incident_table(sim.incidents()))
                records = await journal.records()
                console.print(journal_table(records))
                verdict = check_outcome(sim.incidents(), records)
            finally:
                await runner.cleanup()
                await pipeline.stop()
                await journal.close()
    if verdict:
        console.print(f"[red]unexpected outcome:[/] {verdict}")
        return 1
    console.print("[green]Demo complete:[/] 2 incidents created once each, one updated, one resolved, "
                  "the Low finding skipped.")
    return 0


def steps_table(steps: list[Step], codes: list[int], history: list[Any]) -> Table:
    table = Table(title="Causely notifications sent to the receiver, and what the operator did")
    for col in ("#", "Notification", "Severity", "Finding", "HTTP", "Decision", "Incident"):
        table.add_column(col)
    for i, (step, code) in enumerate(zip(steps, codes, strict=True)):
        h = history[i] if i < len(history) else None
        decision = f"{h.decision} ({h.reason})" if h else "-"
        table.add_row(str(i + 1), step.payload["type"], step.payload["severity"],
                      step.payload["objectId"][:8] + "…", str(code), decision, (h.reference if h else None) or "-")
    return table


def incident_table(incidents: list[dict[str, Any]]) -> Table:
    table = Table(title="incident.io (simulator): incidents")
    for col in ("Reference", "Name", "Severity", "Status", "Category", "Mode"):
        table.add_column(col)
    for inc in sorted(incidents, key=lambda i: i["created_at"]):
        table.add_row(
            inc["reference"], inc["name"], (inc.get("severity") or {}).get("name", "-"),
            inc["incident_status"]["name"], inc["incident_status"]["category"], inc["mode"],
        )
    return table


def journal_table(records: list[Any]) -> Table:
    table = Table(title="operator journal: one record per finding")
    for col in ("Destination", "Finding", "State", "Incident", "Severity", "Occurrence"):
        table.add_column(col)
    for r in records:
        table.add_row(r.destination_id.rsplit("/", 1)[-1], r.object_id[:8] + "…", r.state.value, r.reference or "-",
                      r.severity or "-", str(r.occurrence))
    return table


def check_outcome(incidents: list[dict[str, Any]], records: list[Any]) -> str | None:
    if len(incidents) != 2:
        return f"expected 2 incidents, found {len(incidents)}"
    categories = sorted(i["incident_status"]["category"] for i in incidents)
    if categories.count("closed") + categories.count("learning") != 1:
        return f"expected exactly one resolved incident, statuses: {categories}"
    states = sorted(r.state.value for r in records)
    if states != ["open", "resolved", "skipped"]:
        return f"unexpected journal states {states}"
    return None


def run(args: argparse.Namespace) -> int:
    setup_logging("WARNING" if args.log_level == "INFO" else args.log_level)
    return asyncio.run(run_demo(args.latency_ms, Console(width=max(Console().width, 110))))
