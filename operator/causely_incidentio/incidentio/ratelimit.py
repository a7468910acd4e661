"""Client-side pacing that mirrors incident.io's own rate limit: a token bucket per API key.

incident.io allows 1200 requests per minute per key as a bucket of 1200 refilled at 20/s. Pacing
ourselves with the same bucket keeps bursts (an operator restart resuming hundreds of actions) from
turning into 429s, and sharing one bucket per key across every destination that uses the key keeps them
from starving each other. After a 429 the bucket is *penalised*: nobody sends with that key until the
server's hint has passed.

The bucket reserves tokens synchronously (no ``await`` between reading and updating the balance), so it
needs no asyncio lock and works from any event loop; a small thread lock guards the arithmetic for the
rare case of loops in several threads. Waiters are served in the order they asked.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
import time
from collections.abc import Awaitable, Callable

DEFAULT_CAPACITY = 1200
DEFAULT_REFILL_PER_SECOND = 20.0

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """A token bucket: ``capacity`` tokens, refilled continuously at ``refill_per_second``.

    ``clock`` and ``sleep`` are injectable so tests can drive time by hand.
    """

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        refill_per_second: float = DEFAULT_REFILL_PER_SECOND,
        clock: Clock = time.monotonic,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"token bucket capacity must be at least 1, got {capacity}")
        if not (refill_per_second > 0 and math.isfinite(refill_per_second)):
            raise ValueError(f"token bucket refill rate must be a positive number, got {refill_per_second}")
        self.capacity = capacity
        self.refill_per_second = refill_per_second
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._updated = clock()
        self._blocked_until = -math.inf
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenBucket(capacity={self.capacity}, refill_per_second={self.refill_per_second})"

    @property
    def available(self) -> float:
        """Tokens available now (negative while requests are queued for later)."""
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(
                float(self.capacity), self._tokens + (now - self._updated) * self.refill_per_second
            )
            self._updated = now

    def _reserve(self, tokens: int) -> float:
        """Take ``tokens`` now (possibly going into debt); return the clock time they are really ours."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= tokens
            debt = max(0.0, -self._tokens)
            return now + debt / self.refill_per_second

    def _refund(self, tokens: int) -> None:
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(float(self.capacity), self._tokens + tokens)

    async def acquire(self, tokens: int = 1) -> float:
        """Wait until ``tokens`` may be spent and spend them; return the seconds waited."""
        if not 1 <= tokens <= self.capacity:
            raise ValueError(f"can acquire between 1 and {self.capacity} tokens at once, not {tokens}")
        start = self._clock()
        ready_at = self._reserve(tokens)
        slept = False
        try:
            while True:
                # Re-read the penalty on every turn: a 429 may arrive while we sleep.
                delay = max(ready_at, self._blocked_until) - self._clock()
                if delay <= 0:
                    break
                slept = True
                await self._sleep(delay)
        except asyncio.CancelledError:
            self._refund(tokens)
            raise
        return max(0.0, self._clock() - start) if slept else 0.0

    def penalise(self, seconds: float) -> None:
        """After a 429: nobody sends with this key for ``seconds``, and the bucket starts empty then."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            return
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._blocked_until = max(self._blocked_until, now + seconds)
            self._tokens = min(self._tokens, 0.0)


_BUCKETS: dict[str, TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A stable, non-reversible name for an API key (SHA-256 hex), safe for logs and registries."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def bucket_for(
    api_key: str,
    capacity: int = DEFAULT_CAPACITY,
    refill: float = DEFAULT_REFILL_PER_SECOND,
) -> TokenBucket:
    """The process-wide bucket for ``api_key``: every client using the same key shares it.

    The registry is keyed by a SHA-256 of the key, never the key. The first caller's limits win; later
    callers with other limits get the existing bucket (one key has one server-side budget).
    """
    fingerprint = key_fingerprint(api_key)
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(fingerprint)
        if bucket is None:
            bucket = TokenBucket(capacity, refill)
            _BUCKETS[fingerprint] = bucket
        return bucket


def clear_buckets() -> None:
    """Forget every registered bucket (tests; a process that wants a fresh budget)."""
    with _BUCKETS_LOCK:
        _BUCKETS.clear()
