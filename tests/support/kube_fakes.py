"""A status patcher that applies JSON merge patches (RFC 7386) to a dict, and can be made to fail or hold."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any


class PatchFailed(Exception):
    """Looks like kubernetes_asyncio's ApiException where it matters: a ``status`` and a ``reason``."""

    def __init__(self, status: int, reason: str = "Internal Server Error") -> None:
        super().__init__(f"({status}) {reason}")
        self.status = status
        self.reason = reason


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeStatusApi:
    """One object's status. ``fail`` queues errors for the next patches; ``hold`` blocks patches until set."""

    def __init__(self, status: dict[str, Any] | None = None) -> None:
        self.status: dict[str, Any] = status or {}
        self.patches: list[dict[str, Any]] = []  # every patch that was applied, as sent (after JSON)
        self.attempts = 0
        self.fail: list[BaseException] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.started = asyncio.Event()  # set when a patch has arrived (and may be held)
        self.latency = 0.0  # seconds each patch takes (0 still yields to the event loop, like real I/O)

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        assert (namespace, name) == ("ns", "dest")
        body = json.loads(json.dumps({"status": status}))  # what goes over the wire
        self.attempts += 1
        self.started.set()
        await self.hold.wait()
        await asyncio.sleep(self.latency)
        if self.fail:
            raise self.fail.pop(0)
        self.status = merge_patch(self.status, body["status"])
        self.patches.append(body["status"])
