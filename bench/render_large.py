"""Benchmark: how long rendering an incident summary takes as the notification's lists grow.

Why: the summary's list trimming used to rebuild the whole list for every item it dropped (O(n²)); a
421 KB notification blocked the event loop for 11.7 s. This script renders generated notifications with
thousands of remediation options and SLOs and prints, for each, the body size, the parse time and the
render time (best of ``--repeat``), so a regression to super-linear shows as a time that grows faster than
the size.

Run from the repository root::

    .venv/bin/python bench/render_large.py
    .venv/bin/python bench/render_large.py --sizes 1000 4000 16000 --repeat 3

``--loop`` also measures what the worker's path costs the event loop: the longest stall a 1 ms ticker sees
while the notification is parsed and its summary rendered inline, and then as the worker does it
(``parse_off_loop``/``render_off_loop``: in a thread above 64 KiB / always).

Sizes count remediation options; each notification also carries ``n // 4`` impacted SLOs. Rendering runs
on what :func:`parse_notification` returns, as the worker does, so the parse-time list cap applies.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from causely_incidentio.payload import parse_notification  # noqa: E402
from causely_incidentio.render import render_summary, render_title  # noqa: E402
from causely_incidentio.sync.worker import parse_off_loop, render_off_loop  # noqa: E402

BASE = ROOT / "tests" / "fixtures" / "payloads" / "detected-high-slo.json"


def notification(options: int) -> bytes:
    """A valid ProblemDetected with ``options`` remediation options and ``options // 4`` SLOs."""
    data: dict[str, Any] = json.loads(BASE.read_text())
    data["description"]["remediationOptions"] = [
        {"title": f"Option {i}", "description": f"Scale the deployment up by {i % 7 + 1} replicas and watch it."}
        for i in range(options)
    ]
    data["slos"] = [
        {"status": "AT_RISK", "slo_entity": {"name": f"slo-{i}", "type": "RequestSuccessRate",
                                             "link": f"https://portal.causely.app/slo/{i}"}}
        for i in range(options // 4)
    ]
    return json.dumps(data).encode()


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


async def longest_stall(work: Any) -> float:
    """Run ``work()`` (a coroutine function) while a 1 ms ticker runs; the ticker's longest gap, in seconds."""
    import asyncio

    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await work()
    done = True
    await task
    return max(gaps)


def loop_stalls(sizes: list[int]) -> None:
    import asyncio

    print(f"{'options':>8} {'body':>10} {'stall inline':>13} {'stall worker':>13}")
    for size in sizes:
        body = notification(size)

        async def inline(body: bytes = body) -> None:
            render_summary(parse_notification(body))

        async def worker(body: bytes = body) -> None:
            await render_off_loop(await parse_off_loop(body))

        a = min(asyncio.run(longest_stall(inline)) for _ in range(3))
        b = min(asyncio.run(longest_stall(worker)) for _ in range(3))
        print(f"{size:>8} {len(body) / 1024:>8.0f} KB {a * 1000:>10.1f} ms {b * 1000:>10.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000, 8000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loop", action="store_true", help="also measure event-loop stalls")
    args = parser.parse_args(argv)
    print("command: .venv/bin/python bench/render_large.py " + " ".join(sys.argv[1:]))
    print(f"{'options':>8} {'slos':>6} {'body':>10} {'parse':>10} {'render':>10} {'summary':>9}")
    for size in args.sizes:
        body = notification(size)
        n = parse_notification(body)
        parse_s = best(lambda body=body: parse_notification(body), args.repeat)
        render_s = best(lambda n=n: (render_title(n), render_summary(n)), args.repeat)
        summary = render_summary(n)
        print(f"{size:>8} {size // 4:>6} {len(body) / 1024:>8.0f} KB {parse_s * 1000:>7.1f} ms "
              f"{render_s * 1000:>7.1f} ms {len(summary.encode()):>7} B")
    if args.loop:
        loop_stalls(args.sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
