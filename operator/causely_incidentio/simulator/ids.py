"""ULID-shaped identifiers, like the ones incident.io hands out.

Organisation objects (severities, statuses, ...) get *stable* ids derived from a seed, so documentation,
tests and a user's configuration can name them across restarts. Incidents get time-ordered ids, so sorting
by id is sorting by creation time, which is what cursor pagination relies on.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# 2021-08-17T13:28:57.801Z, the time used throughout the spec's examples: stable ids look like "01FDAG...".
STABLE_EPOCH_MS = 1_629_206_937_801

_RANDOM_BITS = 80
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1


def encode(value: int) -> str:
    """Encode a 128-bit integer as a 26-character Crockford base32 string (the ULID text form)."""
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def stable_id(seed: str) -> str:
    """A deterministic ULID-like id for ``seed`` (e.g. ``"severity:Minor"``)."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
    return encode((STABLE_EPOCH_MS << _RANDOM_BITS) | digest)


class UlidFactory:
    """Monotonic ULIDs: strictly increasing even when several are made within one millisecond."""

    def __init__(self, clock: Callable[[], float] = time.time, seed: int | None = None) -> None:
        self._clock = clock
        self._random = random.Random(seed)
        self._last_ms = -1
        self._last_random = 0

    def new(self) -> str:
        ms = int(self._clock() * 1000)
        if ms <= self._last_ms:
            ms = self._last_ms
            rnd = (self._last_random + 1) & _RANDOM_MASK
        else:
            rnd = self._random.getrandbits(_RANDOM_BITS - 1)  # headroom so increments rarely overflow
        self._last_ms, self._last_random = ms, rnd
        return encode((ms << _RANDOM_BITS) | rnd)
