"""Soak: run many seeded fault schedules (tests/integration/faults) and print what they injected and broke.

Why a bench script as well as the test suite: CI runs a few hundred schedules; this runs a thousand and more in
one process with one long-lived simulator, and prints the totals issue 8 asks to record (schedules, faults
injected by kind, invariant violations, wall time) plus a replay command for every failing seed::

    python bench/soak.py --schedules 1000                 # the mix: 70 % inproc, 27 % kube, 3 % process
    python bench/soak.py --mode inproc --seed 17          # replay one schedule, with its full report
    python bench/soak.py --mode kube --schedules 200 --first-seed 5000

Everything talks to 127.0.0.1 only; every schedule is bounded in time (see fault_runs.DRAIN_TIMEOUT).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "tests" / "support", ROOT / "tests" / "integration" / "faults"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from fault_runs import Result, run_schedule, simulator  # noqa: E402
from fault_schedule import MODES  # noqa: E402

MIX = (("inproc", 70), ("kube", 27), ("process", 3))
INVARIANTS = (  # (name, text that marks a violation of it in fault_check's lines)
    ("202 routed to no destination", "routed to no destination"),
    ("resolve lost (live incident after a clear)", "a resolve was lost"),
    ("cleared finding's record wrong", "is a clear; the record is"),
    ("active finding without its one live incident", "calls for one live incident"),
    ("active finding's record wrong", "calls for an open record"),
    ("two incidents for one occurrence", "incidents: ["),
    ("action stuck after the faults stopped", "still pending"),
    ("token in an output", "appears in"),
)


def invariant_of(problem: str) -> str:
    return next((name for name, mark in INVARIANTS if mark in problem), "other")


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(mode, seed) pairs: one mode, or the mix, seeds counted up from ``--first-seed`` per mode."""
    if args.seed is not None:
        return [(args.mode or "inproc", args.seed)]
    if args.mode:
        return [(args.mode, args.first_seed + i) for i in range(args.schedules)]
    out: list[tuple[str, int]] = []
    next_seed = dict.fromkeys(MODES, args.first_seed)
    for i in range(args.schedules):
        slot = i % 100
        mode = "inproc" if slot < MIX[0][1] else "kube" if slot < MIX[0][1] + MIX[1][1] else "process"
        out.append((mode, next_seed[mode]))
        next_seed[mode] += 1
    return out


async def soak(args: argparse.Namespace) -> int:
    runs = plan(args)
    started = time.monotonic()
    per_mode: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    failed: list[Result] = []
    errors: list[tuple[str, int, str]] = []
    violations: Counter[str] = Counter()
    async with simulator() as sim:
        for n, (mode, seed) in enumerate(runs, 1):
            try:
                result = await run_schedule(seed, mode, sim)
            except Exception as exc:  # the harness itself failed: count it, say how to replay, go on
                errors.append((mode, seed, f"{type(exc).__name__}: {exc}"))
                print(f"ERROR seed {seed} ({mode}): {type(exc).__name__}: {exc}", flush=True)
                continue
            per_mode[mode] += 1
            faults.update(result.faults)
            if result.problems:
                violations.update(invariant_of(p) for p in result.problems)
                failed.append(result)
                print(result.report() if args.seed is not None or args.verbose else
                      f"FAIL seed {seed} ({mode}): {result.problems[0]} ... replay: {result.replay}", flush=True)
            if n % 50 == 0:
                print(f"  {n}/{len(runs)} schedules, {len(failed)} failing, "
                      f"{time.monotonic() - started:.0f} s", flush=True)
    wall = time.monotonic() - started
    print()
    print(f"schedules: {len(runs)} ({', '.join(f'{m} {c}' for m, c in sorted(per_mode.items()))})")
    print(f"faults injected: {sum(faults.values())}")
    for kind, count in sorted(faults.items()):
        print(f"  {kind:<34} {count}")
    print(f"invariant violations: {sum(violations.values())} in {len(failed)} schedule(s)")
    for name, count in violations.most_common():
        print(f"  {name:<46} {count}")
    by_mode = Counter(r.mode for r in failed)
    print(f"failing schedules by mode: {', '.join(f'{m} {c}' for m, c in sorted(by_mode.items())) or 'none'}")
    print(f"schedules that could not be run (harness errors): {len(errors)}")
    for mode, seed, what in errors:
        print(f"  seed {seed} ({mode}): {what}")
    reload = sum(1 for r in failed if any(k.startswith("sighup-") for k in r.schedule.faults))
    print(f"failing schedules with a broken-config reload: {reload}; without: {len(failed) - reload}")
    for r in failed:
        print(f"  seed {r.seed} ({r.mode}): {len(r.problems)} - {r.problems[0]}")
        print(f"    replay: {r.replay}")
    print(f"wall time: {wall:.1f} s ({wall / max(1, len(runs)):.2f} s per schedule)")
    command = " ".join([".venv/bin/python", "bench/soak.py", *sys.argv[1:]])
    print(f"reproduce: {command}")
    return 1 if failed or errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=1000, help="how many schedules (default 1000)")
    parser.add_argument("--mode", choices=MODES, help="only this mode (default: the mix)")
    parser.add_argument("--first-seed", type=int, default=1, help="first seed of each mode")
    parser.add_argument("--seed", type=int, help="replay this one seed (with --mode) and print its report")
    parser.add_argument("--verbose", action="store_true", help="print the full report of every failing seed")
    args = parser.parse_args()
    return asyncio.run(soak(args))


if __name__ == "__main__":
    sys.exit(main())
