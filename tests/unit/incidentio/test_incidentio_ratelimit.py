"""The token bucket paces requests by the clock it is given; one bucket per API key per process."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from incidentio_fakes import FakeTime

from causely_incidentio.incidentio import TokenBucket, bucket_for, ratelimit


def bucket(fake: FakeTime, capacity: int = 5, refill: float = 1.0) -> TokenBucket:
    return TokenBucket(capacity, refill, fake.clock, sleep=fake.sleep)


async def test_requests_beyond_capacity_wait_for_the_refill(fake_time: FakeTime) -> None:
    limiter = bucket(fake_time, capacity=5, refill=2.0)
    waits = [await limiter.acquire() for _ in range(9)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == [0.5] * 4
    assert sum(waits) == 2.0
    assert fake_time.now - 1000.0 == 2.0


async def test_concurrent_waiters_queue_in_order(fake_time: FakeTime) -> None:
    limiter = bucket(fake_time, capacity=5, refill=1.0)
    waits = await asyncio.gather(*(limiter.acquire() for _ in range(8)))
    assert waits == [0.0] * 5 + [1.0, 2.0, 3.0]
    assert fake_time.now - 1000.0 == 3.0


async def test_tokens_refill_with_time_up_to_capacity(fake_time: FakeTime) -> None:
    limiter = bucket(fake_time, capacity=5, refill=1.0)
    for _ in range(5):
        await limiter.acquire()
    fake_time.now += 2.0
    assert limiter.available == 2.0
    fake_time.now += 100.0
    assert limiter.available == 5.0
    assert await limiter.acquire(5) == 0.0


async def test_a_penalty_holds_everyone_back_and_empties_the_bucket(fake_time: FakeTime) -> None:
    limiter = bucket(fake_time, capacity=5, refill=1.0)
    limiter.penalise(3.0)
    assert await limiter.acquire() == 3.0  # full bucket, but the server said wait
    # The server's bucket was empty at the 429: after 3 s it has refilled 3 tokens, one now used.
    assert limiter.available == 2.0


async def test_a_penalty_arriving_during_a_wait_extends_it(fake_time: FakeTime) -> None:
    limiter = bucket(fake_time, capacity=1, refill=1.0)
    await limiter.acquire()

    async def penalise_while_it_sleeps() -> None:
        limiter.penalise(10.0)

    waited, _ = await asyncio.gather(limiter.acquire(), penalise_while_it_sleeps())
    assert waited == 10.0  # it went to sleep for 1 s of refill; the 429 then held it 10 s from then
    assert fake_time.sleeps == [1.0, 9.0]


async def test_penalties_never_shorten_and_ignore_nonsense(fake_time: FakeTime) -> None:
    limiter = bucket(fake_time)
    limiter.penalise(5.0)
    limiter.penalise(1.0)
    limiter.penalise(float("nan"))
    limiter.penalise(-1.0)
    assert await limiter.acquire() == 5.0


async def test_a_cancelled_waiter_gives_its_tokens_back(fake_time: FakeTime) -> None:
    limiter = bucket(fake_time, capacity=1, refill=1.0)
    await limiter.acquire()

    async def never(seconds: float) -> None:
        await asyncio.Event().wait()

    limiter._sleep = never
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert limiter.available == -1.0
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.available == 0.0


def test_invalid_arguments_are_refused(fake_time: FakeTime) -> None:
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="refill"):
        TokenBucket(10, 0.0)
    limiter = bucket(fake_time, capacity=5)
    with pytest.raises(ValueError, match="between 1 and 5"):
        asyncio.run(limiter.acquire(6))


def test_one_bucket_per_key_registered_by_hash() -> None:
    first = bucket_for("key-one", 10, 1.0)
    assert bucket_for("key-one") is first
    assert bucket_for("key-two") is not first
    assert first.capacity == 10  # the first caller's limits win
    assert "key-one" not in ratelimit._BUCKETS
    assert hashlib.sha256(b"key-one").hexdigest() in ratelimit._BUCKETS
    assert "key-one" not in repr(first)
