"""The receiver's byte budget: bodies held at once stay under the limit, and every share comes back."""

from __future__ import annotations

import asyncio

import pytest

from causely_incidentio.receiver import BufferFull, ByteBudget


async def test_waits_for_room_then_refuses() -> None:
    budget = ByteBudget(100)
    async with budget.hold(60, wait=1):
        with pytest.raises(BufferFull):
            async with budget.hold(60, wait=0.01):
                pass
        assert budget.used == 60
    assert budget.used == 0


async def test_a_waiter_gets_the_room_a_holder_frees() -> None:
    budget = ByteBudget(100)
    release = asyncio.Event()

    async def holder() -> None:
        async with budget.hold(80, wait=1):
            await release.wait()

    task = asyncio.create_task(holder())
    await asyncio.sleep(0)
    assert budget.used == 80

    async def waiter() -> int:
        async with budget.hold(50, wait=30):
            return budget.used

    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    release.set()
    assert await waiting == 50
    await task
    assert budget.used == 0


async def test_a_cancelled_holder_or_waiter_leaks_nothing() -> None:
    budget = ByteBudget(100)
    started = asyncio.Event()

    async def holder() -> None:
        async with budget.hold(100, wait=1):
            started.set()
            await asyncio.sleep(3600)

    async def waiter() -> None:
        async with budget.hold(10, wait=3600):
            pass

    held = asyncio.create_task(holder())
    await started.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    waiting.cancel()
    held.cancel()
    for task in (held, waiting):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert budget.used == 0
    async with budget.hold(100, wait=0.01):
        assert budget.used == 100


def test_a_body_larger_than_the_budget_counts_as_the_whole_budget() -> None:
    async def run() -> int:
        budget = ByteBudget(10)
        async with budget.hold(10**9, wait=0.01):
            return budget.used

    assert asyncio.run(run()) == 10
