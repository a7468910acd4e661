"""Hand-driven time and canned incident.io API objects for the client tests."""

from __future__ import annotations

import asyncio
from typing import Any

BASE = "https://api.incident.test"
TOKEN = "inc_live_SECRET_0123456789abcdef"
EPOCH = 1_750_000_000.0
TS = "2021-08-17T13:28:57.801578Z"


class FakeTime:
    """Virtual time: a monotonic clock, a wall clock, and a sleep that jumps the clock instead of waiting.

    Concurrent sleepers wake in deadline order: a sleeper lets the others run, and only the one with
    the earliest deadline moves the clock forward.
    """

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._deadlines: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return EPOCH + (self.now - 1000.0)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        deadline = self.now + seconds
        self._deadlines.append(deadline)
        try:
            while True:
                await asyncio.sleep(0)
                if deadline <= self.now:
                    return
                if deadline <= min(self._deadlines):
                    self.now = deadline
                    return
        finally:
            self._deadlines.remove(deadline)


def status_json(
    name: str = "Investigating", category: str = "live", id: str = "st-live", rank: int = 1
) -> dict[str, Any]:
    return {
        "id": id,
        "name": name,
        "category": category,
        "rank": rank,
        "description": "",
        "created_at": TS,
        "updated_at": TS,
    }


def severity_json(name: str, rank: int, id: str | None = None) -> dict[str, Any]:
    return {
        "id": id or f"sev-{name.lower()}",
        "name": name,
        "rank": rank,
        "description": "",
        "created_at": TS,
        "updated_at": TS,
    }


def incident_type_json(name: str, id: str, is_default: bool = False) -> dict[str, Any]:
    return {
        "id": id,
        "name": name,
        "description": "",
        "is_default": is_default,
        "private_incidents_only": False,
        "create_in_triage": "optional",
        "created_at": TS,
        "updated_at": TS,
    }


def incident_json(id: str = "01INC", reference: str = "INC-1", **fields: Any) -> dict[str, Any]:
    incident: dict[str, Any] = {
        "id": id,
        "reference": reference,
        "name": "Checkout is slow",
        "summary": "Root cause: db",
        "mode": "standard",
        "visibility": "public",
        "permalink": f"https://app.incident.io/incidents/{reference}",
        "incident_status": status_json(),
        "severity": severity_json("Major", 2),
        "creator": {"api_key": {"id": "k", "name": "causely"}},
        "custom_field_entries": [],
        "incident_role_assignments": [],
        "slack_channel_id": "",
        "slack_team_id": "T1",
        "created_at": TS,
        "updated_at": TS,
    }
    incident.update(fields)
    return incident


def error_body(status: int, type: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": type,
        "status": status,
        "request_id": f"req-{status}",
        "errors": [{"code": type, "message": message}],
        **extra,
    }
