"""Benchmark: the Kubernetes-status journal against a real kube-apiserver (etcd, TLS, RBAC, the project's CRD).

What it measures (the issue's targets: >= 200 notifications/s accepted, object < 512 KiB with 2,000 open
findings):

1. notifications/s accepted into one destination's status, ``--concurrency`` senders at once, each
   ``accept`` carrying a 1.7 KB Causely payload (tests/fixtures/payloads/detected-high-slo.json with a fresh
   objectId), while a stand-in worker applies every pending action at once with ``complete()`` (a worker
   whose incident.io calls cost nothing, so pending actions do not pile up). Two outcomes:
   ``open`` records every finding as an open incident, so the object grows to ``--notifications`` open
   findings; ``resolved`` records them as resolved, pruned beyond ``keep_ended`` (a destination's steady
   state, where findings come and go);
2. the object's size (``kubectl get -o json --show-managed-fields | wc -c``), its managedFields and its
   status at the end (with ``open``: 2,000 open findings);
3. merge-patch latency p50/p95 (every patch the journal sent) and entries per patch.

Run from the repository root (the API server binaries come from ``make k8s``)::

    .venv/bin/python bench/k8s_journal.py --runs 3

Each run uses a fresh namespace and fresh destination objects on one API server; with ``--runs`` > 1 the
medians are printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from kubeapi import KubeAPIServer  # noqa: E402

from causely_incidentio.kube.api import KubeApi  # noqa: E402
from causely_incidentio.kube.journal import KubeStatusJournal  # noqa: E402
from causely_incidentio.sync.journal import HistoryEntry  # noqa: E402
from causely_incidentio.sync.records import FindingRecord, Intake, PendingAction, State  # noqa: E402

CRD = ROOT / "crds" / "incidentdestinations.yaml"
PAYLOAD = ROOT / "tests" / "fixtures" / "payloads" / "detected-high-slo.json"
OUTCOMES = {"open": State.OPEN, "resolved": State.RESOLVED}


@dataclass
class TimedPatcher:
    """Wraps the real API client and keeps every patch's latency and how many map entries it carried."""

    api: KubeApi
    latencies: list[float] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        start = time.perf_counter()
        await self.api.patch_status(namespace, name, status)
        self.latencies.append(time.perf_counter() - start)
        self.entries.append(len(status.get("pending") or {}) + len(status.get("incidents") or {}))


def payloads(count: int) -> list[tuple[str, bytes]]:
    template = json.loads(PAYLOAD.read_text())
    out = []
    for _ in range(count):
        oid = str(uuid.uuid4())
        template["objectId"] = oid
        template["link"] = f"http://causely.localhost:3000/rootCauses/{oid}"
        out.append((oid, json.dumps(template, indent=2).encode()))
    return out


def outcome_record(action: PendingAction, n: int, state: State) -> FindingRecord:
    """What the worker records after creating (or resolving) an incident, with realistic field lengths."""
    now = time.time()
    return FindingRecord(
        action.destination_id, action.object_id, state=state, occurrence=1,
        incident_id=f"01JF{uuid.uuid4().hex[:22].upper()}", reference=f"INC-{1000 + n}",
        permalink=f"https://app.incident.io/causely-demo/incidents/{1000 + n}", severity="High",
        last_ts_ns=1_734_072_188_309_296_138, attempts=1, created_at=now, updated_at=now,
    )


async def stand_in_worker(journal: KubeStatusJournal, dest: str, stop: asyncio.Event, state: State) -> None:
    """Drains pending actions as fast as the journal lets it (a worker whose incident.io calls are free)."""
    done = 0
    while not stop.is_set() or await journal.pending_count(dest):
        actions = await journal.pending(dest)
        if not actions:
            await asyncio.sleep(0.005)
            continue
        records = [outcome_record(a, done + i, state) for i, a in enumerate(actions)]
        done += len(actions)
        await asyncio.gather(*(
            journal.complete(a, r, "created", HistoryEntry(dest, a.object_id, "ProblemDetected", "create", "bench"))
            for a, r in zip(actions, records, strict=True)
        ))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_scenario(
    kube: KubeAPIServer, namespace: str, name: str, notifications: int, concurrency: int, state: State
) -> dict[str, float]:
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"tokenSecretRef": {"name": "incidentio"}},
    }))
    api = await KubeApi.connect(kubeconfig=str(kube.kubeconfig_admin))
    patcher = TimedPatcher(api)
    journal = KubeStatusJournal(patcher)
    dest = f"{namespace}/{name}"
    try:
        journal.attach(dest, namespace, name, None)
        await journal.flush(dest)
        patcher.latencies.clear()
        patcher.entries.clear()
        work = payloads(notifications)
        stop = asyncio.Event()
        worker = asyncio.create_task(stand_in_worker(journal, dest, stop, state))

        async def sender(mine: list[tuple[str, bytes]]) -> None:
            for oid, body in mine:
                await journal.accept([Intake(dest, oid, body, time.time())])

        start = time.perf_counter()
        await asyncio.gather(*(sender(work[i::concurrency]) for i in range(concurrency)))
        accepted_in = time.perf_counter() - start
        stop.set()
        await worker
        await journal.flush(dest)
        stats = journal.stats(dest)
    finally:
        await journal.close()
        await api.close()
    raw = kube.kubectl(
        "get", "incidentdestination", name, "-n", namespace, "-o", "json", "--show-managed-fields"
    ).stdout
    obj = json.loads(raw)
    status = obj.get("status", {})
    if state is State.OPEN:
        assert len(status.get("incidents", {})) == notifications, "every open finding must be recorded"
    assert not status.get("pending"), "every pending action must be applied"
    return {
        "concurrency": concurrency,
        "notifications": notifications,
        "accepted_per_s": notifications / accepted_in,
        "patches": len(patcher.latencies),
        "entries_per_patch": statistics.mean(patcher.entries),
        "patch_p50_ms": 1000 * percentile(patcher.latencies, 0.50),
        "patch_p95_ms": 1000 * percentile(patcher.latencies, 0.95),
        "object_bytes": len(raw.encode()),
        "managed_fields_bytes": len(json.dumps(obj["metadata"].get("managedFields", []))),
        "status_bytes": len(json.dumps(status)),
        "status_estimate_bytes": stats.status_bytes,
        "open_incidents": status.get("openIncidents", 0),
        "records": len(status.get("incidents", {})),
    }


def show(result: dict[str, float], title: str) -> None:
    print(
        f"{title}: concurrency {result['concurrency']:.0f}: {result['accepted_per_s']:.0f} notifications/s accepted "
        f"({result['notifications']:.0f}); {result['patches']:.0f} patches, "
        f"{result['entries_per_patch']:.1f} entries/patch, patch p50 {result['patch_p50_ms']:.1f} ms "
        f"p95 {result['patch_p95_ms']:.1f} ms; at the end, {result['records']:.0f} records "
        f"({result['open_incidents']:.0f} open): object "
        f"{result['object_bytes'] / 1024:.0f} KiB (status {result['status_bytes'] / 1024:.0f} KiB, estimated "
        f"{result['status_estimate_bytes'] / 1024:.0f} KiB), managedFields {result['managed_fields_bytes']} B",
        flush=True,
    )


async def main_async(args: argparse.Namespace, kube: KubeAPIServer) -> None:
    kube.kubectl("apply", "-f", str(CRD))
    kube.kubectl("wait", "--for=condition=established", "--timeout=60s",
                 "crd/incidentdestinations.notifications.causely.ai")
    scenarios = [(c, outcome) for outcome in args.outcome for c in args.concurrency]
    results: dict[tuple[int, str], list[dict[str, float]]] = {s: [] for s in scenarios}
    for run in range(1, args.runs + 1):
        namespace = f"bench-{run}-{uuid.uuid4().hex[:6]}"
        kube.kubectl("create", "namespace", namespace)
        for c, outcome in scenarios:
            result = await run_scenario(
                kube, namespace, f"dest-{outcome}-c{c}", args.notifications, c, OUTCOMES[outcome]
            )
            results[(c, outcome)].append(result)
            show(result, f"run {run} [{outcome}]")
    if args.runs > 1:
        for (_, outcome), runs in results.items():
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            show(median, f"median of {args.runs} [{outcome}]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--outcome", nargs="+", choices=sorted(OUTCOMES), default=["open", "resolved"],
        help="what the stand-in worker records: open (the object grows to --notifications open findings) or "
        "resolved (ended records, pruned beyond keep_ended: a destination's steady state)",
    )
    args = parser.parse_args()
    print("reproduce: .venv/bin/python bench/k8s_journal.py " + shlex.join(sys.argv[1:]), flush=True)
    with KubeAPIServer() as kube:
        asyncio.run(main_async(args, kube))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
