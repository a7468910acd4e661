"""incident.io's per-API-key token bucket, and the headers it reports on every response.

The documented default is a bucket of 1200 refilled at 20 per second (1200 per minute, no fixed window).
Time comes from injectable clocks so tests can drive the bucket without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against one key's bucket."""

    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int  # unix seconds when the bucket is full again
    retry_after_seconds: int  # 0 when allowed
    window_seconds: int
    now_epoch: float = field(repr=False, default=0.0)

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": f"{self.limit}, {self.limit};window={self.window_seconds}",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Used": str(self.limit - self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers

    def body_extra(self) -> dict[str, object]:
        """The ``rate_limit`` object of a 429 body; ``retry_after`` is an RFC 3339 timestamp."""
        at = datetime.fromtimestamp(self.now_epoch + self.retry_after_seconds, UTC)
        return {
            "rate_limit": {
                "name": "api_key",
                "limit": self.limit,
                "remaining": 0,
                "retry_after": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        }


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """One bucket per key (a token fingerprint). ``capacity <= 0`` disables limiting (for benchmarks)."""

    def __init__(
        self,
        capacity: int = 1200,
        refill_per_second: float = 20.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity > 0 and refill_per_second <= 0:
            raise ValueError("rate_limit_refill must be positive")
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self._clock = clock
        self._wall = wall_clock
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.capacity), now)
        else:
            refilled = bucket.tokens + (now - bucket.updated) * self.refill_per_second
            bucket.tokens = min(float(self.capacity), refilled)
            bucket.updated = now
        return bucket

    def _decision(self, bucket: _Bucket, allowed: bool) -> Decision:
        now = self._wall()
        missing = self.capacity - bucket.tokens
        retry = 0 if allowed else max(1, math.ceil((1.0 - bucket.tokens) / self.refill_per_second))
        return Decision(
            allowed=allowed,
            limit=self.capacity,
            remaining=max(0, math.floor(bucket.tokens)),
            reset_epoch=math.ceil(now + missing / self.refill_per_second),
            retry_after_seconds=retry,
            window_seconds=max(1, round(self.capacity / self.refill_per_second)),
            now_epoch=now,
        )

    def take(self, key: str) -> Decision | None:
        """Spend one token for ``key``; None when limiting is disabled."""
        if not self.enabled:
            return None
        bucket = self._bucket(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return self._decision(bucket, True)
        return self._decision(bucket, False)

    def exhausted(self, key: str) -> Decision:
        """A 429 decision without touching the bucket: what a forced ``429`` fault reports."""
        capacity = max(self.capacity, 1)
        refill = self.refill_per_second if self.refill_per_second > 0 else 1.0
        now = self._wall()
        return Decision(
            allowed=False,
            limit=capacity,
            remaining=0,
            reset_epoch=math.ceil(now + capacity / refill),
            retry_after_seconds=max(1, math.ceil(1.0 / refill)),
            window_seconds=max(1, round(capacity / refill)),
            now_epoch=now,
        )

    def reset(self) -> None:
        self._buckets.clear()
