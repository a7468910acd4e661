"""Benchmark: the incident.io client under a 429 storm against the simulator (requests sent vs 429s received).

The simulator enforces incident.io's per-key token bucket, here shrunk to ``--server-capacity`` 50 refilled
at ``--server-refill`` 5/s. ``--creates`` N creates (distinct idempotency keys) are fired at once through
ONE ``IncidentIOClient`` (the product's client with its default retry policy: 8 attempts, 120 s), whose
client-side bucket is configured

``matched``  like the server's (50, 5/s): the client paces itself and should see (almost) no 429;
``loose``    far larger than the server's (10,000, 1,000/s): the server's 429s and their Retry-After drive
             the client (it penalises its bucket for the hinted time after each 429).

A create whose call gives up (``RetriesExhaustedError``, the worker's "transient: try later") is sent again
with the same idempotency key, as the worker would, until every create has succeeded (bounded by
``--deadline``). Reported: requests sent and 429s received (counted by the client's on_request hook and
cross-checked with the simulator's request log), calls that gave up, incidents created (must equal N, with no
duplicates: one incident per key), total time, and the floor (N - capacity) / refill.

Run from the repository root::

    .venv/bin/python bench/ratelimit_storm.py --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from causely_incidentio.incidentio import IncidentIOClient, RetriesExhaustedError, TokenBucket, close_pools
from common import API_TOKEN, http_json, machine_facts, median, start_simulator

CONFIGS = {"matched": None, "loose": (10_000, 1_000.0)}  # None: the server's own capacity and refill


@dataclass
class Storm:
    run: int
    config: str
    client_capacity: int
    client_refill: float
    creates: int
    sent: int  # HTTP requests the client sent (every attempt)
    rate_limited: int  # 429s it received
    server_sent: int  # the same, from the simulator's request log
    server_429: int
    gave_up: int  # calls that ended in RetriesExhaustedError and were sent again
    incidents: int  # incidents in the simulator after the storm
    duplicates: int  # keys with more than one incident (must be 0)
    seconds: float
    floor_seconds: float

    @property
    def ok(self) -> bool:
        return self.incidents == self.creates and self.duplicates == 0


async def storm(base_url: str, *, run: int, config: str, creates: int, capacity: int, refill: float,
                server_capacity: int, server_refill: float, deadline: float) -> Storm:
    statuses: Counter[int | None] = Counter()

    def on_request(endpoint: str, status: int | None) -> None:
        if endpoint == "POST /v2/incidents":
            statuses[status] += 1

    setup = IncidentIOClient(API_TOKEN, base_url=base_url, bucket=TokenBucket(1000, 1000.0))
    severity = (await setup.list_severities())[0].id
    await setup.aclose()
    http_json("POST", base_url + "/_simulator/reset")  # a full server bucket and no incidents to start with
    bucket = TokenBucket(capacity, refill)
    client = IncidentIOClient(API_TOKEN, base_url=base_url, bucket=bucket, on_request=on_request)
    gave_up = 0
    start = time.monotonic()

    async def create(i: int) -> None:
        nonlocal gave_up
        key = f"storm-r{run}-{config}-{i}"
        while True:
            try:
                await client.create_incident(idempotency_key=key, visibility="public", name=key,
                                             severity_id=severity)
                return
            except RetriesExhaustedError:
                gave_up += 1
                if time.monotonic() - start > deadline:
                    raise

    try:
        await asyncio.wait_for(asyncio.gather(*(create(i) for i in range(creates))), timeout=deadline + 130)
    finally:
        seconds = time.monotonic() - start
        await client.aclose()
        await close_pools()
    log = [r for r in http_json("GET", base_url + "/_simulator/requests")["requests"]
           if r["method"] == "POST" and r["path"] == "/v2/incidents"]
    incidents = http_json("GET", base_url + "/_simulator/incidents")["incidents"]
    names = Counter(inc["name"] for inc in incidents)
    return Storm(
        run=run, config=config, client_capacity=capacity, client_refill=refill, creates=creates,
        sent=sum(statuses.values()), rate_limited=statuses[429], server_sent=len(log),
        server_429=sum(1 for r in log if r["status"] == 429), gave_up=gave_up, incidents=len(incidents),
        duplicates=sum(n - 1 for n in names.values() if n > 1), seconds=seconds,
        floor_seconds=max(0.0, (creates - server_capacity) / server_refill),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="429 storm (see the module docstring)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--server-capacity", type=int, default=50)
    parser.add_argument("--server-refill", type=float, default=5.0)
    parser.add_argument("--configs", default="matched,loose", help="comma-separated from " + ",".join(CONFIGS))
    parser.add_argument("--deadline", type=float, default=180.0, help="seconds after which a storm fails")
    parser.add_argument("--json", metavar="FILE", help="write every figure here")
    args = parser.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    if set(configs) - set(CONFIGS) or not (1 <= args.runs <= 10 and 1 <= args.creates <= 2000):
        parser.error("--configs from matched,loose; --runs 1..10; --creates 1..2000")
    if not 0 < args.deadline <= 600 or args.server_capacity < 1 or args.server_refill <= 0:
        parser.error("--deadline in (0, 600]; a positive server capacity and refill")
    logging.basicConfig(level=logging.ERROR)  # the client warns on every retry: thousands of lines here
    facts = machine_facts()
    print("machine:", ", ".join(f"{k}={v}" for k, v in facts.items()))
    rows: list[Storm] = []
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        sim = start_simulator(Path(tmp), capacity=args.server_capacity, refill=args.server_refill)
        try:
            for run in range(1, args.runs + 1):
                for config in configs:
                    capacity, refill = CONFIGS[config] or (args.server_capacity, args.server_refill)
                    s = asyncio.run(storm(
                        sim.url, run=run, config=config, creates=args.creates, capacity=int(capacity),
                        refill=float(refill), server_capacity=args.server_capacity,
                        server_refill=args.server_refill, deadline=args.deadline,
                    ))
                    rows.append(s)
                    print(f"run {run} {config:<7} sent {s.sent:>5} 429s {s.rate_limited:>5} (server {s.server_sent}/"
                          f"{s.server_429}) gave up {s.gave_up:>3} incidents {s.incidents}/{s.creates} "
                          f"dup {s.duplicates} in {s.seconds:6.1f}s (floor {s.floor_seconds:.1f}s)", flush=True)
        finally:
            sim.stop()
    print(f"\nmedians over {args.runs} run(s): {args.creates} creates at once, server bucket "
          f"{args.server_capacity} + {args.server_refill:g}/s")
    print(f"{'client bucket':<22} {'sent':>6} {'429s':>6} {'sent/create':>11} {'gave up':>7} {'incidents':>9} "
          f"{'dups':>4} {'seconds':>7} {'floor':>6} {'x floor':>7}")
    summary: list[dict[str, Any]] = []
    for config in configs:
        group = [s for s in rows if s.config == config]
        first = group[0]
        entry = {
            "config": config, "client_capacity": first.client_capacity, "client_refill": first.client_refill,
            "sent": median(s.sent for s in group), "rate_limited": median(s.rate_limited for s in group),
            "gave_up": median(s.gave_up for s in group), "incidents": median(s.incidents for s in group),
            "duplicates": max(s.duplicates for s in group), "seconds": median(s.seconds for s in group),
            "floor_seconds": first.floor_seconds, "all_ok": all(s.ok for s in group),
        }
        summary.append(entry)
        label = f"{config} ({first.client_capacity}, {first.client_refill:g}/s)"
        print(f"{label:<22} {entry['sent']:>6.0f} {entry['rate_limited']:>6.0f} "
              f"{entry['sent'] / args.creates:>11.2f} {entry['gave_up']:>7.0f} {entry['incidents']:>9.0f} "
              f"{entry['duplicates']:>4} {entry['seconds']:>7.1f} {entry['floor_seconds']:>6.1f} "
              f"{entry['seconds'] / entry['floor_seconds'] if entry['floor_seconds'] else float('nan'):>7.2f}")
    print("\nreproduce: .venv/bin/python bench/ratelimit_storm.py " + shlex.join(sys.argv[1:]))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": facts, "runs": [asdict(s) for s in rows],
                                               "medians": summary}, indent=2))
    if not all(s.ok for s in rows):
        print("FAILED: a storm did not end with exactly one incident per create")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
