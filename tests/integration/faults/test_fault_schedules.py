"""Seeded fault schedules over the real pipeline and the simulator (issue 8, "Prove it").

Each test id is one seed of one mode; a failure prints the seed, the schedule and a one-line replay command
(``python bench/soak.py --mode MODE --seed N``). ``bench/soak.py`` runs a thousand and more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fault_runs import run_schedule, simulator

from causely_incidentio.simulator import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.faults]

INPROC_SEEDS = range(1, 101)
KUBE_SEEDS = range(1, 81)
PROCESS_SEEDS = range(1, 5)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with simulator() as s:
        yield s


async def _run(seed: int, mode: str, sim: Simulator) -> None:
    result = await run_schedule(seed, mode, sim)
    if result.problems:
        pytest.fail(result.report(), pytrace=False)


@pytest.mark.parametrize("seed", INPROC_SEEDS)
async def test_inproc_schedule(seed: int, sim: Simulator) -> None:
    await _run(seed, "inproc", sim)


@pytest.mark.parametrize("seed", KUBE_SEEDS)
async def test_kube_schedule(seed: int, sim: Simulator) -> None:
    await _run(seed, "kube", sim)


@pytest.mark.parametrize("seed", PROCESS_SEEDS)
async def test_process_schedule(seed: int, sim: Simulator) -> None:
    await _run(seed, "process", sim)
