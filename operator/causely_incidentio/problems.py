"""Precise, token-free descriptions of what is wrong with an input.

Config and payload validation both report a list of :class:`Problem` (where, what, what was expected)
instead of raising on the first error, so a user sees every mistake at once. Messages must never contain
secret values: builders quote keys and locations, not the values of token fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: ``where`` (key or JSON path), ``what`` is wrong, ``expected``."""

    where: str
    what: str
    expected: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}"
        if self.expected:
            text += f" (expected {self.expected})"
        return text


class InvalidInput(ValueError):
    """Raised with every problem found in one input (a Secret, a resource, a payload)."""

    def __init__(self, subject: str, problems: Iterable[Problem]) -> None:
        self.subject = subject
        self.problems: list[Problem] = list(problems)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.subject}: " + "; ".join(str(p) for p in self.problems)
