"""Benchmark: notifications/s the standalone receiver acknowledges (202, journaled), against a bare baseline.

The issue's target: >= 3,000 notifications/s at concurrency 8 with the journal committed (group commit),
on these 2-core machines where a bare aiohttp handler answers ~12,000 req/s and one SQLite commit costs
~0.2 ms. Every figure here comes from processes started the same way on the same machine, so the ratios
(receiver / bare) are what to compare across machines, not the absolute numbers.

Scenarios (each in fresh processes with an empty journal, each at every ``--concurrency``):

``bare``      an aiohttp app whose handler reads the body and answers 202: the ceiling on this machine.
``filtered``  ``causely-incidentio standalone`` whose only destination's filter rejects the payload: the
              receiver's own cost (auth, parse and validate, route, metrics, JSON answer), no journal write.
``journal``   (a) journal-only: the destination's API key is refused by the simulator (401), so its worker
              is paused and every notification is committed to the journal and left pending.
``draining``  (b) the realistic case: the worker creates an incident per notification in the simulator
              while the load runs, with incident.io's documented rate limit on both sides (the simulator's
              bucket and the client's: 1,200 requests, refilled at 20/s): a burst of ~1,200 creates as fast
              as the worker can, then 20/s.
``draining-max``  the worst case for the receiver's share of the CPU: as ``draining`` with both rate limits
              off (simulator latency 0), so the worker creates incidents as fast as it can all along.

Load: ``wrk`` (one thread, ``--concurrency`` connections, a Lua script that POSTs
tests/fixtures/payloads/detected-high-slo.json with a distinct objectId per request and records the
objectIds answered 202), or an aiohttp client in a separate process when wrk is not installed. After each
journaled run the SQLite journal is read: every objectId answered 202 must be in it (pending + findings).

Run from the repository root::

    .venv/bin/python bench/receiver_throughput.py --runs 3

``--runs`` > 1 prints the medians last; ``--json FILE`` keeps every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import secrets
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common import (
    API_TOKEN,
    REFUSED_TOKEN,
    LoadResult,
    Service,
    default_tool,
    destination_secret,
    http_json,
    journal_accept_cost,
    machine_busy_seconds,
    machine_facts,
    median,
    payload_bytes,
    post_notification,
    process_cpu_seconds,
    read_journal,
    run_load,
    sqlite_commit_cost,
    start_bare,
    start_simulator,
    start_standalone,
    wait_for,
    wait_quiet,
)

SCENARIOS = ("bare", "filtered", "journal", "draining", "draining-max")
REJECT_ALL = json.dumps([{"field": "severity", "operator": "in", "value": ["Low"]}])  # the payload is High
NO_CLIENT_LIMIT = {"INCIDENT_IO_RATE_LIMIT_CAPACITY": "1000000", "INCIDENT_IO_RATE_LIMIT_REFILL_PER_SECOND": "1000000"}


@dataclass
class Measurement:
    run: int
    scenario: str
    concurrency: int
    tool: str
    accepted: int
    rate: float  # 202s per second
    p50_ms: float
    p99_ms: float
    other: int
    errors: int
    server_cpu_s: float  # CPU the receiver's process used during the load (all its threads)
    seconds: float
    idle_load: float  # cores busy on the machine just before the load (other people's work; ~0 is clean)
    foreign_load: float  # cores used during the load by processes other than ours (server, simulator, wrk)
    journal_rows: int | None = None  # pending + findings after the load
    missing: int | None = None  # 202'd objectIds not in the journal (must be 0)
    unanswered: int = 0  # requests wrk sent but stopped waiting for at the end (may or may not be journaled)
    incidents: int | None = None  # draining: incidents the worker had created when the load stopped

    @property
    def ok(self) -> bool:
        """No error, every 202 journaled, and nothing journaled beyond what wrk left unanswered at the end."""
        extra_ok = self.journal_rows is None or self.scenario == "filtered" or (
            0 <= self.journal_rows - self.accepted <= self.unanswered)
        return self.other == 0 and self.errors == 0 and not self.missing and extra_ok


def _wait_worker_paused(sim: Service) -> None:
    """journal-only: wait for the worker's preflight to be refused, so it is idle before the load."""
    def refused() -> bool:
        requests = http_json("GET", sim.url + "/_simulator/requests")["requests"]
        return any(r["status"] == 401 for r in requests)

    if not wait_for(refused, 30, 0.05):
        raise TimeoutError("the worker never tried its refused key")


def _warm_worker(url: str, token: str, state: Path) -> None:
    """draining: one notification end to end, so preflight, catalog and connection pool are warm."""
    status, _ = post_notification(url, token, "warm-up")
    if status != 202:
        raise RuntimeError(f"warm-up notification answered {status}")
    if not wait_for(lambda: read_journal(state).findings.get("warm-up") == "open", 30):
        raise TimeoutError("the warm-up notification did not become an incident")


def measure(scenario: str, concurrency: int, *, run: int, duration: float, tool: str, threads: int,
            workdir: Path, quiet_wait: float) -> Measurement:
    token = secrets.token_urlsafe(24)
    prefix = f"r{run}-{scenario}-c{concurrency}"
    sim: Service | None = None
    server: Service
    state: Path | None = None
    if scenario == "bare":
        server = start_bare(workdir)
    else:
        limited = scenario == "draining"  # incident.io's documented limits, on both sides
        sim = start_simulator(workdir, capacity=1200 if limited else 0)
        api_key = REFUSED_TOKEN if scenario == "journal" else API_TOKEN
        filters = REJECT_ALL if scenario == "filtered" else "[]"
        server, state = start_standalone(
            workdir, secret=destination_secret("bench", api_key, filters), sim_url=sim.url, receiver_token=token,
            env=None if limited else NO_CLIENT_LIMIT,
        )
    try:
        if scenario == "journal" and sim is not None:
            _wait_worker_paused(sim)
        if scenario.startswith("draining") and state is not None:
            _warm_worker(server.url, token, state)
        before = len(read_journal(state).findings) if state is not None else 0
        idle_load = wait_quiet(quiet_wait)
        ours = [server.proc.pid] + ([sim.proc.pid] if sim is not None else [])
        cpu0 = [process_cpu_seconds(p) for p in ours]
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        load: LoadResult = run_load(tool, server.url + "/notifications", token, concurrency=concurrency,
                                    duration=duration, prefix=prefix, workdir=workdir,
                                    record_ids=scenario != "bare", threads=threads)
        busy, wall = machine_busy_seconds() - busy0, time.monotonic() - t0
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = [process_cpu_seconds(p) - c for p, c in zip(ours, cpu0, strict=True)]
        loadgen_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
        foreign = max(0.0, busy - sum(cpu) - loadgen_cpu) / wall
        m = Measurement(run, scenario, concurrency, load.tool, load.accepted, load.rate, load.p50_ms, load.p99_ms,
                        load.other, load.errors, cpu[0], load.seconds, idle_load, foreign,
                        unanswered=max(0, load.sent - load.accepted - load.other - load.errors))
        if state is not None:
            snap = read_journal(state)
            ids = snap.all_ids() - {"warm-up"}
            m.journal_rows = len(ids)
            m.missing = len(load.ids - ids) if scenario != "filtered" else 0
            if scenario == "filtered" and ids:
                m.missing = -len(ids)  # nothing should have been journaled: flag it
            if scenario.startswith("draining"):
                m.incidents = sum(1 for s in snap.findings.values() if s == "open") - before
        return m
    finally:
        server.stop()
        if sim is not None:
            sim.stop()


def group_commit(concurrency: int, seconds: float, workdir: Path) -> tuple[float, float]:
    """The journal alone: ``concurrency`` tasks calling accept() for ``seconds``; (notifications/s, per commit)."""
    from causely_incidentio.sync.journal import SqliteJournal
    from causely_incidentio.sync.records import Intake

    async def go() -> tuple[float, float]:
        journal = await SqliteJournal.open(workdir / f"group-commit-{concurrency}.sqlite")
        body = payload_bytes("group")
        done = 0
        deadline = time.perf_counter() + seconds

        async def writer(w: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                await journal.accept([Intake("secret/causely/bench", f"g-{w}-{i}", body, time.time())])
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - start
        commits = journal.commits
        await journal.close()
        return done / elapsed, done / max(commits, 1)

    return asyncio.run(go())


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Measurement], bare: dict[int, float]) -> None:
    print(f"{'run':>3} {'scenario':<12} {'conc':>4} {'202/s':>7} {'x bare':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'cpu s':>6} {'202s':>7} {'journal':>7} {'missing':>7} {'unans':>5} {'incid.':>6} {'errors':>6} "
          f"{'other load':>10}")
    for m in rows:
        ratio = m.rate / bare[m.concurrency] if bare.get(m.concurrency) else None
        print(f"{m.run:>3} {m.scenario:<12} {m.concurrency:>4} {m.rate:>7.0f} {_fmt(ratio, '.2f'):>6} "
              f"{m.p50_ms:>7.2f} {m.p99_ms:>7.2f} {m.server_cpu_s:>6.2f} {m.accepted:>7} {_fmt(m.journal_rows):>7} "
              f"{_fmt(m.missing):>7} {m.unanswered:>5} {_fmt(m.incidents):>6} {m.other + m.errors:>6} "
              f"{m.foreign_load:>10.2f}")


def medians(rows: list[Measurement]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    keys = sorted({(m.scenario, m.concurrency) for m in rows}, key=lambda k: (SCENARIOS.index(k[0]), k[1]))
    bare = {c: median(m.rate for m in rows if m.scenario == "bare" and m.concurrency == c)
            for c in {m.concurrency for m in rows}}
    for scenario, conc in keys:
        group = [m for m in rows if m.scenario == scenario and m.concurrency == conc]
        rate = median(m.rate for m in group)
        out.append({
            "scenario": scenario, "concurrency": conc, "runs": len(group), "rate": rate,
            "rate_min": min(m.rate for m in group), "rate_max": max(m.rate for m in group),
            "x_bare": rate / bare[conc] if bare.get(conc) and bare[conc] == bare[conc] else None,
            "p50_ms": median(m.p50_ms for m in group), "p99_ms": median(m.p99_ms for m in group),
            "cpu_per_202_ms": median(m.server_cpu_s / m.accepted * 1e3 for m in group if m.accepted),
            "incidents_per_s": median(m.incidents / m.seconds for m in group if m.incidents is not None)
            if scenario.startswith("draining") else None,
            "all_202s_journaled": all(not m.missing for m in group),
        })
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="receiver throughput (see the module docstring)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per measurement (<= 120)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated from {SCENARIOS}")
    parser.add_argument("--tool", choices=["wrk", "python"], default=default_tool())
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the load generator's CPU share)")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="seconds to wait for other work on the machine to stop before each measurement")
    parser.add_argument("--json", metavar="FILE", help="write every measurement and the medians here")
    args = parser.parse_args()
    if not 0 < args.duration <= 120 or not 1 <= args.runs <= 10:
        parser.error("--duration must be in (0, 120] and --runs in 1..10")
    scenarios = [s for s in args.scenarios.split(",") if s]
    if unknown := set(scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}")

    facts = machine_facts()
    print("machine:", ", ".join(f"{k}={v}" for k, v in facts.items()))
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        work = Path(tmp)
        commit = sqlite_commit_cost(work)
        accept = asyncio.run(journal_accept_cost(work))
        grouped = {c: group_commit(c, 2.0, work) for c in args.concurrency}
        print(f"one SQLite commit (WAL, synchronous=FULL, one 1.7 KB row): {commit * 1e3:.3f} ms; "
              f"SqliteJournal.accept of one notification, one at a time: {accept * 1e3:.3f} ms")
        for c, (rate, per_commit) in grouped.items():
            print(f"journal alone, {c} concurrent accept() loops: {rate:.0f} notifications/s, "
                  f"{per_commit:.1f} per commit (group commit)")
        rows: list[Measurement] = []
        for run in range(1, args.runs + 1):
            for scenario in scenarios:
                for conc in args.concurrency:
                    workdir = work / f"run{run}-{scenario}-c{conc}"
                    workdir.mkdir()
                    m = measure(scenario, conc, run=run, duration=args.duration, tool=args.tool,
                                threads=args.threads, workdir=workdir, quiet_wait=args.quiet_wait)
                    rows.append(m)
                    print(f"run {run} {scenario:<12} c={conc:<3} {m.rate:7.0f} 202/s  p50 {m.p50_ms:.2f} ms  "
                          f"missing={_fmt(m.missing)} errors={m.other + m.errors} "
                          f"other load {m.idle_load:.2f}/{m.foreign_load:.2f} cores", flush=True)
        bare = {c: median(m.rate for m in rows if m.scenario == "bare" and m.concurrency == c)
                for c in args.concurrency}
        print()
        print_table(rows, bare)
        summary = medians(rows)
        print(f"\nmedians over {args.runs} run(s), {args.duration:.0f} s each, load generator {args.tool}:")
        print(f"{'scenario':<12} {'conc':>4} {'202/s':>7} {'(min-max)':>13} {'x bare':>6} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'cpu ms/202':>10} {'incid./s':>8} {'all 202s journaled':>18}")
        for s in summary:
            spread = f"{s['rate_min']:.0f}-{s['rate_max']:.0f}"
            print(f"{s['scenario']:<12} {s['concurrency']:>4} {s['rate']:>7.0f} {spread:>13} "
                  f"{_fmt(s['x_bare'], '.2f'):>6} {s['p50_ms']:>7.2f} {s['p99_ms']:>7.2f} "
                  f"{s['cpu_per_202_ms']:>10.3f} {_fmt(s['incidents_per_s']):>8} "
                  f"{'yes' if s['all_202s_journaled'] else 'NO':>18}")
        failures = [m for m in rows if not m.ok]
        print("\nreproduce: .venv/bin/python bench/receiver_throughput.py " + shlex.join(sys.argv[1:]))
        if args.json:
            Path(args.json).write_text(json.dumps({
                "machine": facts, "commit_ms": commit * 1e3, "accept_ms": accept * 1e3,
                "group_commit": {str(c): {"rate": r, "per_commit": p} for c, (r, p) in grouped.items()},
                "runs": [asdict(m) for m in rows], "medians": summary,
            }, indent=2))
        if failures:
            print(f"FAILED: {len(failures)} measurement(s) with errors or 202s missing from the journal")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
