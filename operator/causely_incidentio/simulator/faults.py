"""Switchable failures, so tests can prove a client survives what the real API and network do.

A rule fails the next ``count`` matching API requests with one ``kind``:

- ``"500"`` / ``"503"``: a server error with the usual error envelope;
- ``"429"``: a rate-limit rejection with ``Retry-After`` and the rate-limit headers;
- ``"timeout"``: the request is held longer than any sensible client timeout, then dropped;
- ``"reset"``: the TCP connection is closed (RST) without a response.

Rules can be limited to one HTTP method and/or a path prefix; the oldest matching rule is used first.
With ``after_processing`` the request is handled first (an incident really is created or edited) and only
the response is lost: the case that makes idempotency keys necessary.
"""

from __future__ import annotations

from dataclasses import dataclass

FAULT_KINDS = ("500", "503", "429", "timeout", "reset")


@dataclass
class FaultRule:
    kind: str
    remaining: int
    method: str | None = None
    path_prefix: str | None = None
    after_processing: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "remaining": self.remaining, "method": self.method,
                "path_prefix": self.path_prefix, "after_processing": self.after_processing}


class FaultPlan:
    """The pending fault rules; :meth:`take` consumes one failure for a request, if any applies."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []

    def add(
        self,
        count: int,
        kind: str,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        after_processing: bool = False,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (expected one of {', '.join(FAULT_KINDS)})")
        if count < 0:
            raise ValueError("fault count must not be negative")
        if after_processing and kind == "429":
            raise ValueError("a 429 means the request was not processed; after_processing does not apply")
        if count:
            self._rules.append(FaultRule(kind, count, method.upper() if method else None, path_prefix,
                                         after_processing))

    def take(self, method: str, path: str) -> FaultRule | None:
        """Consume one failure of the oldest matching rule; returns that rule (its kind and timing)."""
        for rule in self._rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule
        return None

    @property
    def pending(self) -> list[FaultRule]:
        return list(self._rules)

    def clear(self) -> None:
        self._rules.clear()
