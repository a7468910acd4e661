"""Fuzz the real receiver with ≥ 100,000 hypothesis-generated requests and print what it answered.

Why a script as well as the test: CI runs a few thousand derandomized examples
(``tests/integration/pipeline/test_receiver_fuzz.py``); this runs many more with seeds, in batches, and
records the counts. The strategies, the raw-socket client and every check are the test's own
(``tests/integration/pipeline/receiver_fuzzing.py``): no answer ≥ 500 except the deliberate 503 of an
injected journal failure, no traceback or unexpected ERROR in the log, no token in a log or an answer, every
202'd body deliverable, and after each batch the journal holding exactly the accepted actions, each readable.

Each batch is a fresh hypothesis run (seed ``--seed + batch``) against a fresh receiver, pipeline and SQLite
journal in a temporary folder, so memory and disk stay flat; ``--workers`` processes share the batches.
Run from the repository root::

    .venv/bin/python bench/fuzz_receiver.py                         # 100,000 inputs: 50 batches of 2,000
    .venv/bin/python bench/fuzz_receiver.py --batches 2 --batch-size 500 --workers 1   # a quick look

Exit status 1 when any property was violated (the first failures are printed with their batch seed).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in ("operator", "tests/support", "tests/integration/pipeline"):
    sys.path.insert(0, str(ROOT / extra))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from receiver_fuzzing import FuzzTarget, Request, deliverable, requests  # noqa: E402

COUNTS = ("inputs", "server_errors", "tracebacks", "token_leaks", "undeliverable", "accepted_destinations")


def run_batch(args: tuple[int, int]) -> dict[str, Any]:
    """One hypothesis run of ``size`` examples with ``batch_seed``; returns the tally as plain data."""
    batch_seed, size = args
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="fuzz-receiver-") as tmp:
        target = FuzzTarget(Path(tmp))
        with asyncio.Runner() as runner:
            runner.run(target.start())
            try:
                @seed(batch_seed)
                @settings(max_examples=size, deadline=None, database=None, phases=[Phase.generate],
                          suppress_health_check=list(HealthCheck))
                @given(request=requests())
                def one(request: Request) -> None:
                    runner.run(target.run(request))

                one()
                pending = runner.run(target.pending_payloads())
            finally:
                runner.run(target.stop())
    t = target.tally
    journal_problems = [f"seed {batch_seed}: {len(pending)} pending actions for {t.accepted_destinations} "
                        "accepted"] if len(pending) != t.accepted_destinations else []
    journal_problems += [f"seed {batch_seed}: pending action unreadable: {problem}"
                         for p in pending if (problem := deliverable(p)) is not None][:5]
    return {**{k: getattr(t, k) for k in COUNTS}, "statuses": dict(t.statuses), "answers": dict(t.answers),
            "kinds": dict(t.kinds), "failures": [f"seed {batch_seed}: {f[:500]}" for f in t.failures]
            + journal_problems, "journal_problems": len(journal_problems)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args(argv)
    print("command: .venv/bin/python bench/fuzz_receiver.py " + " ".join(sys.argv[1:]), flush=True)
    jobs = [(args.seed + i, args.batch_size) for i in range(args.batches)]
    totals: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    answers: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    failures: list[str] = []
    start = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for done, result in enumerate(pool.imap_unordered(run_batch, jobs), 1):
            for key in (*COUNTS, "journal_problems"):
                totals[key] += result[key]
            statuses.update({int(k): v for k, v in result["statuses"].items()})
            answers.update(result["answers"])
            kinds.update(result["kinds"])
            failures += result["failures"]
            print(f"batch {done}/{len(jobs)}: {totals['inputs']} inputs, {time.monotonic() - start:.0f} s, "
                  f"violations so far {len(failures)}", flush=True)
    elapsed = time.monotonic() - start
    print()
    print(f"inputs: {totals['inputs']} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}) "
          f"in {elapsed:.0f} s, seeds {args.seed}..{args.seed + args.batches - 1}")
    print("responses by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    print("responses by status and error code: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())))
    print(f"responses >= 500: {sum(v for k, v in statuses.items() if k >= 500)} "
          f"(deliberate 503s of injected journal failures included); unexpected >= 500: {totals['server_errors']}")
    print(f"tracebacks or unexpected ERROR logs: {totals['tracebacks']}; token in a log or answer: "
          f"{totals['token_leaks']}")
    print(f"202 but undeliverable: {totals['undeliverable']}; accepted actions journaled: "
          f"{totals['accepted_destinations']}; journal mismatches or unreadable actions: {totals['journal_problems']}")
    for failure in failures[:10]:
        print("FAILURE " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
