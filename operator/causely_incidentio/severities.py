"""Causely's four severities, their order, and the threshold check.

Kept apart from the payload so configuration (``minSeverity``, severity maps) can validate severity names
without importing the notification model.
"""

from __future__ import annotations

from enum import StrEnum


class CauselySeverity(StrEnum):
    """A Causely severity; the string value is Causely's own spelling."""

    CRITICAL = "Critical"
    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"

    @property
    def rank(self) -> int:
        """Low=1 … Critical=4, so thresholds are plain integer comparisons."""
        return _RANKS[self]

    @classmethod
    def parse(cls, value: str) -> CauselySeverity:
        """Case-insensitive lookup; Causely and hand-written configs do not agree on case."""
        return parse(value)


_RANKS: dict[CauselySeverity, int] = {
    CauselySeverity.LOW: 1,
    CauselySeverity.MEDIUM: 2,
    CauselySeverity.HIGH: 3,
    CauselySeverity.CRITICAL: 4,
}

_BY_LOWER: dict[str, CauselySeverity] = {s.value.lower(): s for s in CauselySeverity}

ALLOWED_SEVERITIES = ", ".join(s.value for s in CauselySeverity)
"""Human text for error messages: "Critical, High, Medium, Low"."""


def parse(value: str) -> CauselySeverity:
    """Return the severity named ``value`` in any case; ValueError names the allowed values."""
    if isinstance(value, str):
        found = _BY_LOWER.get(value.strip().lower())
        if found is not None:
            return found
    raise ValueError(f"unknown severity {value!r}; expected one of {ALLOWED_SEVERITIES}")


def meets_threshold(sev: CauselySeverity, minimum: CauselySeverity) -> bool:
    """True when ``sev`` is at least as severe as ``minimum``."""
    return sev.rank >= minimum.rank
