"""The per-key token bucket, driven by a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from causely_incidentio.simulator.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def limiter(clock: Clock, capacity: int = 3, refill: float = 1.0) -> RateLimiter:
    return RateLimiter(capacity, refill, clock=clock, wall_clock=lambda: 1_700_000_000.0 + clock.now)


def test_capacity_requests_pass_then_429(clock: Clock) -> None:
    rl = limiter(clock)
    decisions = [rl.take("k") for _ in range(4)]
    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    assert [d.remaining for d in decisions if d] == [2, 1, 0, 0]


def test_the_bucket_refills_continuously(clock: Clock) -> None:
    rl = limiter(clock)
    for _ in range(3):
        rl.take("k")
    clock.now += 1.0
    allowed = rl.take("k")
    assert allowed is not None and allowed.allowed
    denied = rl.take("k")
    assert denied is not None and not denied.allowed


def test_keys_have_their_own_buckets(clock: Clock) -> None:
    rl = limiter(clock, capacity=1)
    assert rl.take("a").allowed  # type: ignore[union-attr]
    assert rl.take("b").allowed  # type: ignore[union-attr]
    assert not rl.take("a").allowed  # type: ignore[union-attr]


def test_headers_of_an_allowed_request(clock: Clock) -> None:
    rl = RateLimiter(1200, 20.0, clock=clock, wall_clock=lambda: 1_700_000_000.0)
    decision = rl.take("k")
    assert decision is not None
    assert decision.headers() == {
        "X-RateLimit-Limit": "1200, 1200;window=60",
        "X-RateLimit-Remaining": "1199",
        "X-RateLimit-Used": "1",
        "X-RateLimit-Reset": str(1_700_000_000 + 1),  # one token missing at 20/s: full again within a second
    }


def test_a_rejection_carries_retry_after_and_an_rfc3339_body(clock: Clock) -> None:
    rl = limiter(clock, capacity=1, refill=0.25)
    rl.take("k")
    decision = rl.take("k")
    assert decision is not None and not decision.allowed
    assert decision.headers()["Retry-After"] == "4"
    rate_limit = decision.body_extra()["rate_limit"]
    assert isinstance(rate_limit, dict)
    assert rate_limit["remaining"] == 0 and rate_limit["name"] == "api_key" and rate_limit["limit"] == 1
    retry_at = datetime.strptime(rate_limit["retry_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert retry_at.timestamp() == pytest.approx(1_700_000_000.0 + clock.now + 4, abs=1)


def test_capacity_zero_disables_limiting(clock: Clock) -> None:
    rl = RateLimiter(0, 0.0, clock=clock)
    assert rl.take("k") is None


def test_exhausted_reports_a_429_without_spending(clock: Clock) -> None:
    rl = limiter(clock)
    forced = rl.exhausted("k")
    assert not forced.allowed and forced.remaining == 0 and forced.retry_after_seconds >= 1
    assert rl.take("k").remaining == 2  # type: ignore[union-attr]


def test_reset_refills_every_bucket(clock: Clock) -> None:
    rl = limiter(clock, capacity=1)
    rl.take("k")
    rl.reset()
    assert rl.take("k").allowed  # type: ignore[union-attr]


def test_refill_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RateLimiter(10, 0.0)
