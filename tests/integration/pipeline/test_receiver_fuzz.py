"""Property-based fuzzing of the real receiver (hypothesis): hostile values, malformed JSON, odd headers.

Properties, for every input: no answer ≥ 500 except the deliberate 503 of a refused journal write, no
traceback (nor any ERROR but that refusal's) in the log, no token in the log or the answer, and every 202'd
body is deliverable (parses again, renders, encodes as UTF-8 JSON). After the run, the journal holds exactly
the accepted actions, each readable. CI runs the derandomized ``ci`` profile; ``bench/fuzz_receiver.py``
runs ≥ 100,000 inputs with a seed and records the counts in bench/README.md.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from receiver_fuzzing import FuzzTarget, Request, deliverable, requests

pytestmark = pytest.mark.integration

settings.register_profile(
    "ci", max_examples=2000, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    "dev", max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck),
)
PROFILE = os.environ.get("CAUSELY_FUZZ_PROFILE", "ci")


def test_the_receiver_survives_hostile_requests(tmp_path: Path) -> None:
    target = FuzzTarget(tmp_path)
    with asyncio.Runner() as runner:
        runner.run(target.start())
        try:
            @settings(settings.get_profile(PROFILE))
            @given(request=requests())
            def one(request: Request) -> None:
                before = list(target.tally.failures)
                runner.run(target.run(request))
                assert target.tally.failures == before, target.tally.failures[len(before):]

            one()
            pending = runner.run(target.pending_payloads())
        finally:
            runner.run(target.stop())
    t = target.tally
    assert t.server_errors == 0 and t.tracebacks == 0 and t.token_leaks == 0 and t.undeliverable == 0, t.failures
    assert t.statuses[202] > t.inputs // 10, t.statuses  # the generator still reaches the journal
    assert len(pending) == t.accepted_destinations
    assert [p for p in pending if deliverable(p) is not None] == []
