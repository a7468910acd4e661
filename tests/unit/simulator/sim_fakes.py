"""Shared by the simulator's unit tests: a stepping clock and the API-key actor incidents are created by."""

from __future__ import annotations

ACTOR = {"api_key": {"id": "01KEY", "name": "test key"}}


class Clock:
    """Moves one millisecond per reading, so creation order is strict and deterministic."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now
