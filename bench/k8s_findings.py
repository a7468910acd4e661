"""Findings in Kubernetes (issue 7): intake rate, watch traffic, destination size, memory, leader handover.

Everything runs against the project's real control plane (``tests/e2e/kubeapi.py``: etcd + kube-apiserver
1.20 + kube-controller-manager on loopback, built by ``make k8s``) with both CRDs installed:

1. **accept** — notifications/s written into Findings by ``FindingStore.accept`` on the real ``KubeApi`` client,
   ``--concurrency`` callers at once (like that many Causely senders), each call one new objectId (the
   ``detected-high-slo.json`` sample with a fresh objectId and timestamp), with 0, 2,000 and 10,000 Findings
   already in the namespace; then the same batch again with a newer timestamp (merge patches).
2. **watch** — bytes a raw Finding watch receives per notification while the store writes them (what every
   replica's watch costs), for creates and for updates.
3. **size** — the real operator process (``causely-incidentio run``) and the simulator process, one destination
   (a labelled Secret), 10,000 notifications posted to the receiver; once the destination's status shows every
   Finding reconciled, ``kubectl get incidentdestination X -o json | wc -c``. Also the operator's RSS, and the
   watch bytes per notification end to end (receiver create + reconciler status + state label).
4. **rss** — the operator with 50 destinations and 10,000 Findings (each notification is routed to every
   destination, so 200 notifications), VmRSS from ``/proc/<pid>/status`` once settled.
5. **handover** — two operator processes; ``kill -9`` the Lease holder, at once post a new notification to the
   survivor, and time the kill → the incident in the simulator.

Sections 3 and 4 run the operator with the e2e tests' short Lease (``--operator-timing 6/4/1``), section 5 with
the operator's own defaults (``causely-incidentio run``'s; ``--lease-duration`` and friends override them). The
operator runs from this working tree: the commit measured, and any uncommitted operator file, is printed first.

    .venv/bin/python bench/k8s_findings.py --runs 3
    .venv/bin/python bench/k8s_findings.py --only accept,watch --runs 5
    .venv/bin/python bench/k8s_findings.py --only 3,4 --size-findings 2000 --rss-findings 2000

Every process started here listens on 127.0.0.1 only and is stopped by its own pid; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from causely_docs import causely_secret  # noqa: E402
from kubeapi import KubeAPIServer  # noqa: E402

from causely_incidentio.cli import build_parser  # noqa: E402
from causely_incidentio.kube.api import KubeApi  # noqa: E402
from causely_incidentio.kube.findingstore import FindingStore  # noqa: E402
from causely_incidentio.payload import parse_notification  # noqa: E402
from causely_incidentio.sync.records import Intake  # noqa: E402
from common import (  # noqa: E402
    free_port,
    machine_busy_seconds,
    machine_facts,
    percentile,
    process_cpu_seconds,
    wait_quiet,
)

PAYLOAD = ROOT / "operator" / "causely_incidentio" / "data" / "samples" / "payloads" / "detected-high-slo.json"
CRDS = (ROOT / "crds" / "incidentdestinations.yaml", ROOT / "crds" / "findings.yaml")
CRD_NAMES = ("crd/incidentdestinations.notifications.causely.ai", "crd/findings.notifications.causely.ai")
GROUP_PATH = "/apis/notifications.causely.ai/v1alpha1"
LEASE_NAME = "causely-incidentio-reconciler"
RECEIVER_TOKEN = "bench-receiver-token-7c1d"
API_TOKEN = "bench-incidentio-key-0123456789"
CLI = [sys.executable, "-m", "causely_incidentio.cli"]

SECTIONS = ("accept", "watch", "size", "rss", "handover")
TARGETS = {
    "accept": "≥ 300 notifications/s at concurrency 8, flat as Findings grow",
    "watch": "≤ 4 KiB per notification",
    "size": "≤ 8 KiB with 10,000 findings",
    "rss": "≤ 160 MiB with 50 destinations and 10,000 findings",
    "handover": "≤ lease duration + 2 s",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def kib(n: float) -> str:
    return f"{n / 1024:.2f} KiB"


# -- notifications -------------------------------------------------------------------------------------


def rfc3339_ns(epoch_ns: int) -> str:
    secs, frac = divmod(epoch_ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


class Notifications:
    """The sample payload with a fresh objectId and a timestamp that only ever moves forward."""

    def __init__(self) -> None:
        self.template: dict[str, Any] = json.loads(PAYLOAD.read_text())
        self._last_ns = 0

    def _ts(self) -> int:
        self._last_ns = max(time.time_ns(), self._last_ns + 1)
        return self._last_ns

    def body(self, object_id: str, ts_ns: int | None = None, **changes: Any) -> bytes:
        data = {**self.template, "objectId": object_id, "timestamp": rfc3339_ns(ts_ns or self._ts()), **changes}
        return json.dumps(data).encode()

    def intakes(self, destination_id: str, object_ids: Sequence[str]) -> list[Intake]:
        """One intake per objectId, parsed beforehand (the receiver parses before it calls ``accept``)."""
        out = []
        for oid in object_ids:
            payload = self.body(oid)
            out.append(Intake(destination_id, oid, payload, time.time(), parse_notification(payload)))
        return out


def new_ids(n: int, prefix: str) -> list[str]:
    return [f"{prefix}-{uuid.uuid4()}" for _ in range(n)]


# -- the control plane ----------------------------------------------------------------------------------


class Cluster:
    """The control plane plus a small httpx client for reads (cheaper than a kubectl process per poll)."""

    def __init__(self, kube: KubeAPIServer) -> None:
        self.kube = kube
        self.http = httpx.Client(base_url=kube.server_url, verify=str(kube.ca_file), timeout=30,
                                 headers={"Authorization": f"Bearer {kube.admin_token}"})

    def cpu(self, extra: dict[str, int] | None = None) -> dict[str, float]:
        """CPU seconds so far: the control plane, this process, ``extra`` processes, and the whole machine."""
        out = {"machine": machine_busy_seconds(), "bench": time.process_time()}
        for name, pid in (extra or {}).items():
            with contextlib.suppress(OSError):
                out[name] = process_cpu_seconds(pid)
        for name, proc in getattr(self.kube, "_procs", []):  # the control plane's own processes
            if name in ("kube-apiserver", "etcd", "kube-controller-manager"):
                with contextlib.suppress(OSError):
                    out[name] = process_cpu_seconds(proc.pid)
        return out

    def install_crds(self) -> None:
        args: list[str] = ["apply"]
        for crd in CRDS:
            args += ["-f", str(crd)]
        self.kube.kubectl(*args)
        self.kube.kubectl("wait", "--for=condition=established", "--timeout=60s", *CRD_NAMES)

    def namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.kube.kubectl("create", "namespace", name)
        return name

    def get(self, path: str) -> dict[str, Any] | None:
        r = self.http.get(path)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def destinations(self, ns: str) -> list[dict[str, Any]]:
        return list((self.get(f"{GROUP_PATH}/namespaces/{ns}/incidentdestinations") or {}).get("items") or [])

    def lease_holder(self, ns: str) -> str | None:
        lease = self.get(f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{LEASE_NAME}") or {}
        holder = (lease.get("spec") or {}).get("holderIdentity")
        return str(holder) if holder else None

    def findings_resource_version(self, ns: str) -> str:
        data = self.get(f"{GROUP_PATH}/namespaces/{ns}/findings?limit=1") or {}
        return str(data["metadata"]["resourceVersion"])

    def close(self) -> None:
        self.http.close()


def is_ready(dest: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (dest.get("status") or {}).get("conditions") or [])


def wait_until(check: Callable[[], Any], what: str, timeout: float, interval: float = 0.5,
               progress: Callable[[], str] | None = None, every: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + every
    while True:
        value = check()
        if value:
            return value
        now = time.monotonic()
        if now >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}"
                               + (f" ({progress()})" if progress else ""))
        if progress is not None and now >= next_note:
            log(f"  waiting for {what}: {progress()}")
            next_note = now + every
        time.sleep(interval)


# -- a raw watch ----------------------------------------------------------------------------------------


@dataclass
class WatchCount:
    bytes: int = 0
    events: dict[str, int] = field(default_factory=dict)
    event_sizes: list[int] = field(default_factory=list)
    managed_fields: list[int] = field(default_factory=list)
    payload_field: list[int] = field(default_factory=list)
    encoding: str = ""
    error: str | None = None
    reconnects: int = 0

    @property
    def total_events(self) -> int:
        return sum(self.events.values())


class RawWatch:
    """``GET …/findings?watch=1`` from the current resourceVersion (no synthetic ADDED for what exists).

    It reads in a thread of its own, so a busy event loop in this process never makes it a slow watcher (the
    API server closes those); when the server ends the stream anyway, it watches again from the last
    resourceVersion seen, and counts that.
    """

    def __init__(self, cluster: Cluster, ns: str, *, parse: bool) -> None:
        self.cluster = cluster
        self.ns = ns
        self.parse = parse
        self.count = WatchCount()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reached = threading.Event()
        self._target = 1 << 62

    async def start(self) -> None:
        rv = await asyncio.to_thread(self.cluster.findings_resource_version, self.ns)
        self._thread = threading.Thread(target=self._run, args=(rv,), name="raw-watch", daemon=True)
        self._thread.start()
        await asyncio.sleep(0.5)  # the watch is registered before anything is written

    def _run(self, rv: str) -> None:
        kube = self.cluster.kube
        headers = {"Authorization": f"Bearer {kube.admin_token}"}
        try:
            with httpx.Client(verify=str(kube.ca_file), timeout=httpx.Timeout(30, read=None)) as client:
                while not self._stop.is_set():
                    url = (f"{kube.server_url}{GROUP_PATH}/namespaces/{self.ns}/findings"
                           f"?watch=1&resourceVersion={rv}&timeoutSeconds=1800")
                    buf = b""
                    with client.stream("GET", url, headers=headers) as resp:
                        resp.raise_for_status()
                        self.count.encoding = resp.headers.get("content-encoding", "")
                        for chunk in resp.iter_raw():
                            if self._stop.is_set():
                                return  # the stream is left to the server's timeout (closing it here races)
                            self.count.bytes += len(chunk)
                            buf += chunk
                            *lines, buf = buf.split(b"\n")
                            for line in lines:
                                if line.strip():
                                    rv = self._event(line) or rv
                            if self.count.total_events >= self._target:
                                self._reached.set()
                    if not self._stop.is_set():
                        self.count.reconnects += 1
        except Exception as exc:  # reported, not hidden
            if not self._stop.is_set():
                self.count.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._reached.set()

    def _event(self, line: bytes) -> str | None:
        event = json.loads(line)
        kind = str(event.get("type"))
        self.count.events[kind] = self.count.events.get(kind, 0) + 1
        obj = event.get("object") or {}
        if kind == "ERROR":  # e.g. 410 Gone: what follows is a gap, and is said so
            self.count.error = f"watch ERROR event: {obj.get('message')}"
            return None
        if self.parse:
            self.count.event_sizes.append(len(line) + 1)
            mf = (obj.get("metadata") or {}).get("managedFields")
            self.count.managed_fields.append(len(json.dumps(mf, separators=(",", ":"))) if mf else 0)
            self.count.payload_field.append(len(str((obj.get("spec") or {}).get("payload") or "")))
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv else None

    async def wait_events(self, n: int, timeout: float) -> None:
        self._target = n
        if self.count.total_events < n:
            await asyncio.to_thread(self._reached.wait, timeout)

    async def stop(self) -> WatchCount:
        """Stop counting. The thread ends at the stream's next event or timeout (a daemon: never waited for)."""
        self._stop.set()
        return self.count


# -- driving FindingStore.accept -------------------------------------------------------------------------


@dataclass
class Drive:
    n: int
    seconds: float
    latencies: list[float]
    errors: dict[str, int]
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per notification, by process
    other_cores: float = 0.0  # cores used meanwhile by processes that are not part of this measurement

    @property
    def rate(self) -> float:
        ok = self.n - sum(self.errors.values())
        return ok / self.seconds if self.seconds > 0 else 0.0


async def drive(store: FindingStore, intakes: Sequence[Intake], concurrency: int) -> Drive:
    """``concurrency`` callers, each calling ``accept([one intake])`` until the list is used up."""
    queue = list(reversed(intakes))
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def caller() -> None:
        while queue:
            intake = queue.pop()
            t0 = time.perf_counter()
            try:
                await store.accept([intake])
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return Drive(len(intakes), time.perf_counter() - start, latencies, errors)


async def measured(cluster: Cluster, store: FindingStore, intakes: Sequence[Intake], concurrency: int) -> Drive:
    """:func:`drive`, with the CPU each process spent per notification meanwhile."""
    before = cluster.cpu()
    d = await drive(store, intakes, concurrency)
    after = cluster.cpu()
    d.cpu_ms = {k: (after[k] - before[k]) * 1e3 / max(1, len(intakes)) for k in after if k in before}
    d.cpu_ms["other"] = d.cpu_ms["machine"] - sum(v for k, v in d.cpu_ms.items() if k != "machine")
    d.other_cores = d.cpu_ms["other"] * len(intakes) / 1e3 / d.seconds if d.seconds > 0 else 0.0
    return d


def cpu_per(before: dict[str, float], after: dict[str, float], n: int, seconds: float) -> dict[str, float]:
    """CPU ms per item by process, plus ``other`` (the rest of the machine) and ``other_cores`` meanwhile."""
    out = {k: (after[k] - before[k]) * 1e3 / max(1, n) for k in after if k in before}
    out["other"] = out["machine"] - sum(v for k, v in out.items() if k != "machine")
    out["other_cores"] = out["other"] * n / 1e3 / seconds if seconds > 0 else 0.0
    return out


def cpu_line(c: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in c.items() if k != "other_cores") + \
        f" (other work meanwhile: {c['other_cores']:.2f} cores)"


def idle_cpu(pid: int, seconds: float = 10.0) -> float:
    """Cores a process uses over ``seconds`` of doing nothing asked of it."""
    c0, t0 = process_cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (process_cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def cpu_text(d: Drive) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in d.cpu_ms.items()) + f" (other work: {d.other_cores:.2f} cores)"


def newer(notes: Notifications, intakes: Sequence[Intake]) -> list[Intake]:
    """The same findings again, each with a newer timestamp: merge patches of spec."""
    out = []
    for i in intakes:
        payload = notes.body(i.object_id)
        out.append(Intake(i.destination_id, i.object_id, payload, time.time(), parse_notification(payload)))
    return out


# -- section 1: accept ------------------------------------------------------------------------------------


async def accept_run(cluster: Cluster, args: argparse.Namespace, run: int) -> dict[int, dict[str, Any]]:
    ns = await asyncio.to_thread(cluster.namespace, "bench-accept")
    dest = f"incidentdestination/{ns}/bench"
    api = await KubeApi.connect(str(cluster.kube.kubeconfig_admin))
    store = FindingStore(api)
    notes = Notifications()
    existing = 0
    out: dict[int, dict[str, Any]] = {}
    try:
        # warm up the client's connections and the server's caches in another namespace: not measured
        warm_ns = await asyncio.to_thread(cluster.namespace, "bench-warm")
        warm = notes.intakes(f"incidentdestination/{warm_ns}/bench", new_ids(200, "warm"))
        await drive(store, warm, args.concurrency)
        for level in args.levels:
            if level > existing:
                fill = notes.intakes(dest, new_ids(level - existing, "fill"))
                t0 = time.perf_counter()
                d = await drive(store, fill, args.fill_concurrency)
                if d.errors:
                    raise RuntimeError(f"pre-creating {len(fill)} Findings failed: {d.errors}")
                log(f"  run {run}: pre-created {len(fill)} Findings in {time.perf_counter() - t0:.1f}s "
                    f"(concurrency {args.fill_concurrency}, {d.rate:.0f}/s)")
                existing = level
            batch = notes.intakes(dest, new_ids(args.batch, "new"))
            load = await asyncio.to_thread(wait_quiet, 5.0, 0.5)
            created = await measured(cluster, store, batch, args.concurrency)
            existing += len(batch) - sum(created.errors.values())
            updates = newer(notes, batch)
            updated = await measured(cluster, store, updates, args.concurrency)
            out[level] = {"create": created, "update": updated, "load": load}
            log(f"  run {run}, {level:>6} existing: create {created.rate:6.0f}/s "
                f"(p50 {percentile(created.latencies, 50) * 1e3:5.1f} ms, "
                f"p95 {percentile(created.latencies, 95) * 1e3:5.1f} ms, errors {created.errors or 0}); "
                f"update {updated.rate:6.0f}/s (p50 {percentile(updated.latencies, 50) * 1e3:5.1f} ms, "
                f"p95 {percentile(updated.latencies, 95) * 1e3:5.1f} ms, errors {updated.errors or 0}); "
                f"machine load before {load:.2f} cores")
            log(f"      CPU ms per notification — create: {cpu_text(created)}; update: {cpu_text(updated)}")
        log(f"  run {run}: store writes {store.writes}, conflicts {store.conflicts}; {existing} Findings in {ns}")
    finally:
        await api.close()
    return out


def accept_section(cluster: Cluster, args: argparse.Namespace) -> list[str]:
    runs = [asyncio.run(accept_run(cluster, args, r + 1)) for r in range(args.runs)]
    first, last = args.levels[0], args.levels[-1]
    lines = ["| existing Findings | create/s | create p50 | create p95 | update/s | update p50 | update p95 | "
             "CPU ms/create: apiserver, etcd, bench, other |",
             "|---|---|---|---|---|---|---|---|"]
    for level in args.levels:
        c = [r[level]["create"] for r in runs]
        u = [r[level]["update"] for r in runs]
        lines.append(
            f"| {level:,} | **{med([d.rate for d in c]):.0f}** | "
            f"{med([percentile(d.latencies, 50) for d in c]) * 1e3:.1f} ms | "
            f"{med([percentile(d.latencies, 95) for d in c]) * 1e3:.1f} ms | "
            f"**{med([d.rate for d in u]):.0f}** | "
            f"{med([percentile(d.latencies, 50) for d in u]) * 1e3:.1f} ms | "
            f"{med([percentile(d.latencies, 95) for d in u]) * 1e3:.1f} ms | "
            + ", ".join(f"{med([d.cpu_ms.get(k, float('nan')) for d in c]):.1f}"
                        for k in ("kube-apiserver", "etcd", "bench", "other")) + " |")
    ratio_c = med([r[last]["create"].rate / r[first]["create"].rate for r in runs])
    ratio_u = med([r[last]["update"].rate / r[first]["update"].rate for r in runs])
    errors = sum(sum(r[lv][k].errors.values()) for r in runs for lv in args.levels for k in ("create", "update"))
    min_rate = min(med([r[lv][k].rate for r in runs]) for lv in args.levels for k in ("create", "update"))
    lines.append("")
    lines.append(f"per run (create/s at {', '.join(f'{lv:,}' for lv in args.levels)}): " + "; ".join(
        "/".join(f"{r[lv]['create'].rate:.0f}" for lv in args.levels) for r in runs))
    lines.append("per run (update/s): " + "; ".join(
        "/".join(f"{r[lv]['update'].rate:.0f}" for lv in args.levels) for r in runs))
    own = ("kube-apiserver", "etcd", "kube-controller-manager", "bench")
    for kind in ("create", "update"):
        per = {lv: med([sum(r[lv][kind].cpu_ms.get(k, 0.0) for k in own) for r in runs]) for lv in args.levels}
        lines.append(f"CPU of the measured processes per {kind} (apiserver + etcd + controller-manager + this "
                     f"client): " + ", ".join(f"{per[lv]:.1f} ms at {lv:,}" for lv in args.levels)
                     + f" → at most ~{(os.cpu_count() or 1) * 1e3 / per[first]:.0f}/s if all "
                     f"{os.cpu_count()} cores were theirs; other work used "
                     + ", ".join(f"{med([r[lv][kind].other_cores for r in runs]):.2f}" for lv in args.levels)
                     + " cores meanwhile; ratio of this CPU "
                     + f"{last:,} vs {first:,}: {per[last] / per[first]:.2f}")
    lines.append(f"ratio {last:,} vs {first:,} existing (median of per-run ratios): create {ratio_c:.2f}, "
                 f"update {ratio_u:.2f}; failed accepts: {errors}")
    met = min_rate >= 300 and errors == 0 and ratio_c >= 0.8 and ratio_u >= 0.8
    lines.append(f"target {TARGETS['accept']}: {'MET' if met else 'MISSED'} "
                 f"(lowest median {min_rate:.0f}/s; flat taken as ratio ≥ 0.80)")
    return lines


# -- section 2: watch -------------------------------------------------------------------------------------


async def watch_run(cluster: Cluster, args: argparse.Namespace, run: int) -> dict[str, Any]:
    ns = await asyncio.to_thread(cluster.namespace, "bench-watch")
    dest = f"incidentdestination/{ns}/bench"
    api = await KubeApi.connect(str(cluster.kube.kubeconfig_admin))
    store = FindingStore(api)
    notes = Notifications()
    out: dict[str, Any] = {}
    try:
        batch = notes.intakes(dest, new_ids(args.watch_n, "watch"))
        for kind, intakes in (("create", batch), ("update", None)):
            todo = intakes if intakes is not None else newer(notes, batch)
            watch = RawWatch(cluster, ns, parse=True)
            await watch.start()
            d = await drive(store, todo, args.concurrency)
            await watch.wait_events(len(todo), 30)
            count = await watch.stop()
            if count.error or d.errors:
                raise RuntimeError(f"watch {kind}: {count.error or ''} accept errors {d.errors}")
            out[kind] = count
            log(f"  run {run}, {kind}: {count.bytes:,} bytes for {len(todo)} notifications = "
                f"{count.bytes / len(todo):.0f} B each; events {count.events}; event p50 "
                f"{percentile(count.event_sizes, 50):.0f} B, of which managedFields "
                f"{percentile(count.managed_fields, 50):.0f} B, spec.payload "
                f"{percentile(count.payload_field, 50):.0f} B; watched again {count.reconnects}×"
                f"{'; content-encoding ' + count.encoding if count.encoding else ''}")
    finally:
        await api.close()
    out["n"] = args.watch_n
    return out


def watch_section(cluster: Cluster, args: argparse.Namespace) -> list[str]:
    runs = [asyncio.run(watch_run(cluster, args, r + 1)) for r in range(args.runs)]
    lines = ["| write | bytes/notification | events/notification | event p50 | managedFields p50 | spec.payload p50 |",
             "|---|---|---|---|---|---|"]
    worst = 0.0
    for kind in ("create", "update"):
        per = med([r[kind].bytes / r["n"] for r in runs])
        worst = max(worst, per)
        lines.append(
            f"| {kind} | **{per:,.0f} B** ({kib(per)}) | {med([r[kind].total_events / r['n'] for r in runs]):.2f} | "
            f"{med([percentile(r[kind].event_sizes, 50) for r in runs]):,.0f} B | "
            f"{med([percentile(r[kind].managed_fields, 50) for r in runs]):,.0f} B | "
            f"{med([percentile(r[kind].payload_field, 50) for r in runs]):,.0f} B |")
    lines.append("")
    lines.append(f"target {TARGETS['watch']} (receiver writes only; end to end, with the reconciler's writes, "
                 f"in the size section): {'MET' if worst <= 4096 else 'MISSED'} (worst median {worst:,.0f} B)")
    return lines


# -- operator and simulator processes --------------------------------------------------------------------


class Proc:
    """A process this benchmark started; stopped by its own pid only."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log = log_path
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill9(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start_simulator(work: Path) -> tuple[Proc, str]:
    port = free_port()
    argv = [*CLI, "simulator", "--host", "127.0.0.1", "--port", str(port), "--token", API_TOKEN,
            "--rate-limit-capacity", "100000", "--rate-limit-refill", "100000", "--log-level", "WARNING"]
    sim = Proc("simulator", argv, dict(os.environ), work / f"simulator-{port}.log")
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(url + "/_simulator/faults") or (not sim.alive() and _died(sim)), "the simulator", 60,
               0.1)
    return sim, url


def _died(p: Proc) -> bool:
    raise RuntimeError(f"{p.name} exited with {p.proc.returncode}:\n{p.tail()}")


@dataclass
class Operator:
    proc: Proc
    url: str
    health_url: str
    identity: str


def start_operator(cluster: Cluster, ns: str, sim_url: str, work: Path, identity: str,
                   timing: Sequence[str], wait_ready: bool = True) -> Operator:
    port, health = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_IO_", "CAUSELY_", "KUBERNETES_"))}
    env.update(KUBECONFIG=str(cluster.kube.kubeconfig_admin), INCIDENT_IO_API_URL=sim_url,
               INCIDENT_IO_ALLOWED_API_URLS=sim_url,
               CAUSELY_RECEIVER_TOKEN=RECEIVER_TOKEN, POD_NAME=identity)
    argv = [*CLI, "run", "--namespace", ns, "--listen", f"127.0.0.1:{port}",
            "--health-listen", f"127.0.0.1:{health}", *timing, "--shutdown-delay", "0", "--log-level", "INFO"]
    op = Operator(Proc(identity, argv, env, work / f"{identity}.log"), f"http://127.0.0.1:{port}",
                  f"http://127.0.0.1:{health}", identity)
    if wait_ready:
        wait_operator_ready(op)
    return op


def wait_operator_ready(op: Operator, timeout: float = 120) -> None:
    wait_until(lambda: http_ok(op.url + "/readyz") or (not op.proc.alive() and _died(op.proc)),
               f"{op.identity} /readyz", timeout, 0.2)


def operator_troubles(log_path: Path) -> dict[str, int]:
    """What went wrong in an operator's log: Lease lost, incident.io timeouts, warnings, errors."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return {"lease_lost": text.count("no longer holds the Lease"),
            "incidentio_timeouts": text.count("ConnectTimeout") + text.count("PoolTimeout")
            + text.count("ReadTimeout"),
            "warnings": text.count(" WARNING "), "errors": text.count(" ERROR ")}


def rss(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(line.split()[1]) / 1024
    return out


async def post_all(url: str, bodies: Sequence[bytes], concurrency: int) -> dict[str, Any]:
    """POST every body to the receiver, ``concurrency`` at once; a 503 is retried (Causely retries)."""
    queue = list(reversed(bodies))
    statuses: dict[int, int] = {}
    retries = 0
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {RECEIVER_TOKEN}", "Content-Type": "application/json"}

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal retries
        while queue:
            body = queue.pop()
            for attempt in range(20):
                t0 = time.perf_counter()
                r = await client.post(url + "/notifications", content=body, headers=headers)
                if r.status_code == 503 and attempt < 19:
                    retries += 1
                    await asyncio.sleep(0.5)
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                break

    start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "statuses": statuses, "retries": retries, "rate": len(bodies) / seconds,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95)}


def apply_secrets(cluster: Cluster, ns: str, names: Sequence[str]) -> None:
    docs = [causely_secret(n, API_TOKEN) for n in names]
    cluster.kube.kubectl("apply", "-n", ns, "-f", "-",
                         input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))


def status_totals(cluster: Cluster, ns: str) -> dict[str, int]:
    items = cluster.destinations(ns)
    totals = {"destinations": len(items), "ready": sum(is_ready(i) for i in items)}
    for key in ("findings", "pendingFindings", "failedFindings", "openIncidents"):
        totals[key] = sum(int((i.get("status") or {}).get(key) or 0) for i in items)
    totals["created"] = sum(int(((i.get("status") or {}).get("counters") or {}).get("created") or 0) for i in items)
    return totals


def settled(cluster: Cluster, ns: str, findings: int) -> Callable[[], bool]:
    def check() -> bool:
        t = status_totals(cluster, ns)
        return t["findings"] >= findings and t["pendingFindings"] == 0
    return check


# -- section 3: size --------------------------------------------------------------------------------------


async def size_run(cluster: Cluster, args: argparse.Namespace, run: int, work: Path) -> dict[str, Any]:
    ns = await asyncio.to_thread(cluster.namespace, "bench-size")
    sim, sim_url = await asyncio.to_thread(start_simulator, work)
    op: Operator | None = None
    watch: RawWatch | None = None
    try:
        await asyncio.to_thread(apply_secrets, cluster, ns, ["incidentio"])
        op = await asyncio.to_thread(start_operator, cluster, ns, sim_url, work, f"size-{run}",
                                     lease_args(args.operator_timing))
        await asyncio.to_thread(wait_until, lambda: any(is_ready(d) for d in cluster.destinations(ns)),
                                "destination Ready", 120)
        notes = Notifications()
        bodies = [notes.body(oid) for oid in new_ids(args.size_findings, "size")]
        n = len(bodies)
        watch = RawWatch(cluster, ns, parse=False)  # counts while the receiver and the reconciler write
        await watch.start()
        pids = {"operator": op.proc.pid, "simulator": sim.pid}
        c0 = cluster.cpu(pids)
        t0 = time.monotonic()
        posted = await post_all(op.url, bodies, args.concurrency)
        log(f"  run {run}: posted {n} in {posted['seconds']:.1f}s ({posted['rate']:.0f}/s, p50 "
            f"{posted['p50'] * 1e3:.0f} ms, p95 {posted['p95'] * 1e3:.0f} ms); answers {posted['statuses']}, "
            f"503 retried {posted['retries']}")
        await asyncio.to_thread(wait_until, settled(cluster, ns, n), f"{n} findings reconciled",
                                args.settle_timeout, 1.0, lambda: str(status_totals(cluster, ns)))
        drained = time.monotonic() - t0
        cpu = cpu_per(c0, cluster.cpu(pids), n, drained)
        log(f"  run {run}: CPU ms per finding (post → reconciled): {cpu_line(cpu)}")
        await asyncio.sleep(3.0)  # the last label patches and status write
        count = await watch.stop()
        watch = None
        totals = await asyncio.to_thread(status_totals, cluster, ns)
        log(f"  run {run}: all {n} reconciled {drained:.1f}s after the first post; status {totals}")
        await asyncio.sleep(args.settle)
        mem = rss(op.proc.pid)
        idle = await asyncio.to_thread(idle_cpu, op.proc.pid)
        get = ("get", "incidentdestination", "incidentio", "-n", ns, "-o", "json")
        plain = (await asyncio.to_thread(cluster.kube.kubectl, *get)).stdout
        full = (await asyncio.to_thread(cluster.kube.kubectl, *get, "--show-managed-fields")).stdout
        dest = json.loads(plain)
        status_bytes = len(json.dumps(dest.get("status") or {}, indent=4).encode())
        listing = (await asyncio.to_thread(httpx.get, sim_url + "/_simulator/incidents", timeout=120)).json()
        incidents = listing["incidents"] if isinstance(listing, dict) else listing
        out = {
            "n": n, "posted": posted, "drain": drained, "reconcile_rate": n / drained,
            "size": len(plain.encode()), "size_mf": len(full.encode()), "status_bytes": status_bytes,
            "watch_bytes": count.bytes, "watch_events": dict(count.events), "watch_error": count.error,
            "watch_reconnects": count.reconnects, "troubles": operator_troubles(op.proc.log),
            "rss": mem["VmRSS"], "hwm": mem["VmHWM"], "cpu": cpu, "idle": idle,
            "incidents": len(incidents), "totals": totals, "status": dest.get("status"),
        }
        log(f"  run {run}: incidentdestination -o json {out['size']:,} B ({kib(out['size'])}), with managedFields "
            f"{out['size_mf']:,} B; status {status_bytes:,} B; watch {count.bytes / n:,.0f} B/notification "
            f"({count.events}, watched again {count.reconnects}×"
            f"{', error ' + count.error if count.error else ''}); operator RSS {out['rss']:.0f} MiB "
            f"(peak {out['hwm']:.0f}), {idle:.2f} cores once idle; {len(incidents)} incidents in the simulator")
        return out
    except BaseException:
        if op is not None:
            log(f"  operator log tail ({op.proc.log}):\n{op.proc.tail()}")
        raise
    finally:
        if watch is not None:
            await watch.stop()
        if op is not None:
            op.proc.stop()
        sim.stop()
        cluster.kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def size_section(cluster: Cluster, args: argparse.Namespace, work: Path) -> list[str]:
    runs = [asyncio.run(size_run(cluster, args, r + 1, work)) for r in range(args.heavy_runs)]
    n = runs[0]["n"]
    size = med([r["size"] for r in runs])
    wb = med([r["watch_bytes"] / r["n"] for r in runs])
    lines = [
        "| findings | receiver 202/s (c=8) | all reconciled after | reconciled/s | destination -o json | "
        "with managedFields | status | watch bytes/notification (end to end) | operator RSS |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {n:,} | {med([r['posted']['rate'] for r in runs]):.0f} | {med([r['drain'] for r in runs]):.0f} s | "
        f"{med([r['reconcile_rate'] for r in runs]):.0f} | **{size:,.0f} B** ({kib(size)}) | "
        f"{med([r['size_mf'] for r in runs]):,.0f} B | {med([r['status_bytes'] for r in runs]):,.0f} B | "
        f"{wb:,.0f} B ({kib(wb)}) | {med([r['rss'] for r in runs]):.0f} MiB (peak "
        f"{med([r['hwm'] for r in runs]):.0f}) |",
        "",
        f"watch events per run: {[r['watch_events'] for r in runs]} (watched again "
        f"{[r['watch_reconnects'] for r in runs]}×, errors {[r['watch_error'] for r in runs]}); "
        "incidents in the simulator per run: "
        f"{[r['incidents'] for r in runs]}; answers {[r['posted']['statuses'] for r in runs]}, "
        f"503 retries {[r['posted']['retries'] for r in runs]}",
        f"operator CPU ms per finding {[round(r['cpu'].get('operator', 0.0), 1) for r in runs]}, kube-apiserver "
        f"{[round(r['cpu'].get('kube-apiserver', 0.0), 1) for r in runs]}, etcd "
        f"{[round(r['cpu'].get('etcd', 0.0), 1) for r in runs]}; operator log {[r['troubles'] for r in runs]}",
        f"status (last run): {json.dumps(runs[-1]['status'], separators=(',', ':'))[:600]}",
        f"target {TARGETS['size']}: {'MET' if size <= 8192 else 'MISSED'} ({n:,} findings)",
        f"watch end to end ≤ 4 KiB/notification: {'MET' if wb <= 4096 else 'MISSED'}",
    ]
    return lines


# -- section 4: rss ---------------------------------------------------------------------------------------


def rss_run(cluster: Cluster, args: argparse.Namespace, run: int, work: Path) -> dict[str, Any]:
    ns = cluster.namespace("bench-rss")
    sim, sim_url = start_simulator(work)
    op: Operator | None = None
    try:
        op = start_operator(cluster, ns, sim_url, work, f"rss-{run}", lease_args(args.operator_timing))
        time.sleep(2)
        rss_empty = rss(op.proc.pid)["VmRSS"]
        names = [f"dest-{i:03d}" for i in range(args.rss_destinations)]
        apply_secrets(cluster, ns, names)
        wait_until(lambda: status_totals(cluster, ns)["ready"] == len(names), f"{len(names)} destinations Ready",
                   300, 1.0, progress=lambda: str(status_totals(cluster, ns)))
        time.sleep(2)
        rss_ready = rss(op.proc.pid)["VmRSS"]
        per = max(1, args.rss_findings // len(names))
        notes = Notifications()
        bodies = [notes.body(oid) for oid in new_ids(per, "rss")]
        pids = {"operator": op.proc.pid, "simulator": sim.pid}
        c0 = cluster.cpu(pids)
        t0 = time.monotonic()
        posted = asyncio.run(post_all(op.url, bodies, args.concurrency))
        total = per * len(names)
        log(f"  run {run}: posted {per} notifications × {len(names)} destinations in {posted['seconds']:.1f}s; "
            f"answers {posted['statuses']}, 503 retried {posted['retries']}")
        try:
            wait_until(settled(cluster, ns, total), f"{total} findings reconciled", args.settle_timeout, 1.0,
                       progress=lambda: str(status_totals(cluster, ns)))
            done = True
        except TimeoutError as exc:  # memory is still worth reading: said so in the results
            log(f"  run {run}: {exc}")
            done = False
        drained = time.monotonic() - t0
        cpu = cpu_per(c0, cluster.cpu(pids), total, drained)
        log(f"  run {run}: CPU ms per finding (post → {'reconciled' if done else 'timeout'}): {cpu_line(cpu)}")
        if done:
            time.sleep(args.settle)
        mem = rss(op.proc.pid)
        idle = idle_cpu(op.proc.pid)
        totals = status_totals(cluster, ns)
        troubles = operator_troubles(op.proc.log)
        out = {"destinations": len(names), "findings": totals["findings"], "rss_empty": rss_empty,
               "rss_ready": rss_ready, "rss": mem["VmRSS"], "hwm": mem["VmHWM"], "drain": drained,
               "totals": totals, "cpu": cpu, "idle": idle, "settled": done, "troubles": troubles}
        log(f"  run {run}: RSS {rss_empty:.0f} MiB empty, {rss_ready:.0f} MiB with {len(names)} Ready, "
            f"{mem['VmRSS']:.0f} MiB with {totals['findings']} findings {'settled' if done else 'NOT settled'} "
            f"(peak {mem['VmHWM']:.0f} MiB); {'reconciled' if done else 'gave up'} {drained:.0f}s after the first "
            f"post; operator {'idle afterwards' if done else 'meanwhile'} {idle:.2f} cores; {totals}; "
            f"operator log: {troubles}")
        return out
    except BaseException:
        if op is not None:
            log(f"  operator log tail ({op.proc.log}):\n{op.proc.tail()}")
        raise
    finally:
        if op is not None:
            op.proc.stop()
        sim.stop()
        cluster.kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def rss_section(cluster: Cluster, args: argparse.Namespace, work: Path) -> list[str]:
    runs = [rss_run(cluster, args, r + 1, work) for r in range(args.heavy_runs)]
    settled_rss = med([r["rss"] for r in runs])
    unsettled = sum(not r["settled"] for r in runs)
    return [
        "| destinations | findings | RSS started | RSS all Ready | RSS settled | peak (VmHWM) | all reconciled after |",
        "|---|---|---|---|---|---|---|",
        f"| {runs[0]['destinations']} | {runs[0]['findings']:,} | {med([r['rss_empty'] for r in runs]):.0f} MiB | "
        f"{med([r['rss_ready'] for r in runs]):.0f} MiB | **{settled_rss:.0f} MiB** | "
        f"{med([r['hwm'] for r in runs]):.0f} MiB | {med([r['drain'] for r in runs]):.0f} s |",
        "",
        f"per run settled/peak: {[(round(r['rss']), round(r['hwm'])) for r in runs]}; operator CPU ms per finding "
        f"{[round(r['cpu'].get('operator', 0.0), 1) for r in runs]}; operator log {[r['troubles'] for r in runs]}",
        *([f"NOT SETTLED in {unsettled} run(s) within --settle-timeout {args.settle_timeout:.0f}s: "
           f"{[r['totals'] for r in runs if not r['settled']]} — RSS read when it gave up"] if unsettled else []),
        f"target {TARGETS['rss']}: {'MET' if settled_rss <= 160 else 'MISSED'} (settled; peak "
        f"{'also within' if med([r['hwm'] for r in runs]) <= 160 else 'above'} it)",
    ]


# -- section 5: handover ----------------------------------------------------------------------------------


def handover_run(cluster: Cluster, args: argparse.Namespace, run: int, work: Path) -> dict[str, Any]:
    ns = cluster.namespace("bench-ha")
    sim, sim_url = start_simulator(work)
    timing = ["--lease-duration", str(args.lease_duration), "--renew-deadline", str(args.renew_deadline),
              "--retry-period", str(args.retry_period)]
    ops: dict[str, Operator] = {}
    try:
        apply_secrets(cluster, ns, ["incidentio"])
        for side in ("a", "b"):
            op = start_operator(cluster, ns, sim_url, work, f"ha-{run}-{side}", timing, wait_ready=False)
            ops[op.identity] = op
        for op in ops.values():
            wait_operator_ready(op)
        holder = wait_until(lambda: (h := cluster.lease_holder(ns)) in ops and h, "a Lease holder", 120, 0.2)
        wait_until(lambda: any(is_ready(d) for d in cluster.destinations(ns)), "destination Ready", 120)
        notes = Notifications()
        # one incident first: the leader reconciles, so what follows measures the handover alone
        warm = f"warm-{uuid.uuid4()}"
        survivor = next(op for ident, op in ops.items() if ident != holder)
        r = httpx.post(survivor.url + "/notifications", content=notes.body(warm), timeout=30,
                       headers={"Authorization": f"Bearer {RECEIVER_TOKEN}", "Content-Type": "application/json"})
        r.raise_for_status()
        wait_until(lambda: warm in httpx.get(sim_url + "/_simulator/incidents", timeout=10).text,
                   "the warm-up incident", 60, 0.1)
        time.sleep(args.retry_period + 0.5)  # a renewal or two after the warm-up, as in steady state
        holder = cluster.lease_holder(ns)
        victim = ops[str(holder)]
        survivor = next(op for ident, op in ops.items() if ident != holder)
        oid = f"handover-{uuid.uuid4()}"
        body = notes.body(oid)
        t_kill = time.monotonic()
        victim.proc.kill9()
        t_killed = time.monotonic()
        r = httpx.post(survivor.url + "/notifications", content=body, timeout=30,
                       headers={"Authorization": f"Bearer {RECEIVER_TOKEN}", "Content-Type": "application/json"})
        t_202 = time.monotonic()
        if r.status_code != 202:
            raise RuntimeError(f"survivor answered {r.status_code}: {r.text[:300]}")
        t_lease: float | None = None
        deadline = t_kill + args.lease_duration * 4 + 30
        while time.monotonic() < deadline:
            if t_lease is None and cluster.lease_holder(ns) == survivor.identity:
                t_lease = time.monotonic()
            if oid in httpx.get(sim_url + "/_simulator/incidents", timeout=10).text:
                break
            time.sleep(0.05)
        else:
            raise TimeoutError(f"no incident for {oid} {deadline - t_kill:.0f}s after the kill; survivor log:\n"
                               f"{survivor.proc.tail()}")
        t_incident = time.monotonic()
        if t_lease is None:
            t_lease = t_incident
        out = {"holder": holder, "survivor": survivor.identity, "kill": t_killed - t_kill,
               "accepted": t_202 - t_kill, "lease": t_lease - t_kill, "incident": t_incident - t_kill}
        log(f"  run {run}: killed {holder}; survivor answered 202 after {out['accepted']:.2f}s, held the Lease "
            f"after ≤ {out['lease']:.2f}s, incident after {out['incident']:.2f}s")
        return out
    except BaseException:
        for op in ops.values():
            log(f"  {op.identity} log tail:\n{op.proc.tail(15)}")
        raise
    finally:
        for op in ops.values():
            op.proc.stop()
        sim.stop()
        cluster.kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def handover_section(cluster: Cluster, args: argparse.Namespace, work: Path) -> list[str]:
    runs = [handover_run(cluster, args, r + 1, work) for r in range(args.runs)]
    incident = med([r["incident"] for r in runs])
    limit = args.lease_duration + 2
    return [
        "| lease / renew / retry | survivor 202 after kill | survivor holds Lease | incident in simulator | "
        "max of runs |",
        "|---|---|---|---|---|",
        f"| {args.lease_duration:g} / {args.renew_deadline:g} / {args.retry_period:g} s | "
        f"{med([r['accepted'] for r in runs]):.2f} s | {med([r['lease'] for r in runs]):.2f} s | "
        f"**{incident:.2f} s** | {max(r['incident'] for r in runs):.2f} s |",
        "",
        "per run (kill → incident): " + ", ".join(f"{r['incident']:.2f}" for r in runs) + " s",
        f"target {TARGETS['handover']} = {limit:g} s: {'MET' if incident <= limit else 'MISSED'} (median); "
        f"{'every run within' if max(r['incident'] for r in runs) <= limit else 'NOT every run within'}",
    ]


# -- main -------------------------------------------------------------------------------------------------


def code_version() -> str:
    """The commit measured, and the operator files that differ from it (the operator runs from this tree)."""
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
        return r.stdout.rstrip()
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "operator").splitlines()]
    return git("rev-parse", "--short", "HEAD") + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")


def lease_args(timing: str) -> list[str]:
    lease, renew, retry = timing.split("/")
    return ["--lease-duration", lease, "--renew-deadline", renew, "--retry-period", retry]


def parse_timing(text: str) -> str:
    parts = text.split("/")
    if len(parts) != 3 or not all(p.replace(".", "", 1).isdigit() for p in parts):
        raise argparse.ArgumentTypeError("LEASE/RENEW/RETRY in seconds, e.g. 6/4/1")
    return text


def parse_only(text: str) -> list[str]:
    chosen = []
    for part in text.split(","):
        part = part.strip().lower()
        if part.isdigit() and 1 <= int(part) <= len(SECTIONS):
            chosen.append(SECTIONS[int(part) - 1])
        elif part in SECTIONS:
            chosen.append(part)
        elif part:
            raise argparse.ArgumentTypeError(f"unknown section {part!r}: use 1-5 or {', '.join(SECTIONS)}")
    return [s for s in SECTIONS if s in chosen]


def parse_levels(text: str) -> list[int]:
    levels = sorted({int(x.replace("_", "")) for x in text.split(",") if x.strip()})
    if not levels or levels[0] < 0:
        raise argparse.ArgumentTypeError("levels are Finding counts ≥ 0")
    return levels


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of the accept, watch and handover sections")
    parser.add_argument("--heavy-runs", type=int, default=1,
                        help="runs of the size and rss sections (10,000 findings through the operator each)")
    parser.add_argument("--only", type=parse_only, default=list(SECTIONS),
                        help="comma-separated sections: 1-5 or " + ",".join(SECTIONS))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--levels", type=parse_levels, default=[0, 2000, 10000],
                        help="existing Findings before each measured batch")
    parser.add_argument("--batch", type=int, default=1000, help="notifications per measured batch")
    parser.add_argument("--fill-concurrency", type=int, default=32, help="concurrency of the pre-creation")
    parser.add_argument("--watch-n", type=int, default=1000)
    parser.add_argument("--size-findings", type=int, default=10000)
    parser.add_argument("--rss-destinations", type=int, default=50)
    parser.add_argument("--rss-findings", type=int, default=10000)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after reconciling before reading RSS")
    parser.add_argument("--settle-timeout", type=float, default=900.0)
    parser.add_argument("--operator-timing", type=parse_timing, default="6/4/1", metavar="LEASE/RENEW/RETRY",
                        help="Lease timing of the operator in the size and rss sections (the e2e tests' short one)")
    parser.add_argument("--lease-duration", type=float, help="handover section (default: the operator's)")
    parser.add_argument("--renew-deadline", type=float, help="handover section (default: the operator's)")
    parser.add_argument("--retry-period", type=float, help="handover section (default: the operator's)")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 20 or not 1 <= args.heavy_runs <= 10:
        parser.error("--runs in 1..20, --heavy-runs in 1..10")
    defaults = build_parser().parse_args(["run"])  # the handover uses the operator's own Lease defaults
    for name in ("lease_duration", "renew_deadline", "retry_period"):
        if getattr(args, name) is None:
            setattr(args, name, float(getattr(defaults, name)))

    reproduce = ".venv/bin/python bench/k8s_findings.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    facts = machine_facts()
    log(f"machine: {facts['nproc']} cores ({facts['cpu']}), python {facts['python']}, kernel {facts['kernel']}; "
        f"load average {os.getloadavg()[0]:.2f}")
    version = code_version()
    log(f"code: {version}")
    started = time.monotonic()
    # Ctrl-C or SIGTERM unwinds normally, so every process started here is stopped (asyncio.run may leave
    # its own SIGINT handler behind).
    signal.signal(signal.SIGTERM, _interrupt)
    results: dict[str, list[str]] = {}
    failures: dict[str, str] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-k8s-findings-"))
    with KubeAPIServer() as kube:
        cluster = Cluster(kube)
        try:
            cluster.install_crds()
            log(f"control plane up ({kube.server_url}); CRDs Established; logs in {work}")
            for section in args.only:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                log(f"== {section}: {TARGETS[section]}")
                t0 = time.monotonic()
                try:
                    if section == "accept":
                        results[section] = accept_section(cluster, args)
                    elif section == "watch":
                        results[section] = watch_section(cluster, args)
                    elif section == "size":
                        results[section] = size_section(cluster, args, work)
                    elif section == "rss":
                        results[section] = rss_section(cluster, args, work)
                    else:
                        results[section] = handover_section(cluster, args, work)
                except Exception as exc:  # the other sections still run; the failure is printed below
                    failures[section] = f"{type(exc).__name__}: {exc}"
                    log(f"   {section} FAILED: {failures[section]}")
                log(f"   {section} took {time.monotonic() - t0:.0f}s")
        finally:
            cluster.close()
    print()
    print(f"# Findings in Kubernetes — medians of {args.runs} run(s) (size, rss: {args.heavy_runs}); "
          f"{facts['nproc']} cores, load average at the end {os.getloadavg()[0]:.2f}; "
          f"{time.monotonic() - started:.0f}s in all; code {version}")
    for section in args.only:
        print()
        print(f"## {section}")
        if section in failures:
            print(f"FAILED: {failures[section]}")
            continue
        print("\n".join(results[section]))
    print()
    print(f"reproduce: {reproduce}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
