"""An in-process product: simulator + SQLite journal + pipeline + receiver on free loopback ports."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from causely_docs import causely_secret, detected

from causely_incidentio.destinations import DestinationConfig, from_secret
from causely_incidentio.incidentio import close_pools
from causely_incidentio.receiver import Receiver, serve
from causely_incidentio.settings import Settings
from causely_incidentio.simulator import Simulator
from causely_incidentio.sync.journal import SqliteJournal
from causely_incidentio.sync.pipeline import Pipeline

API_TOKEN = "sim-api-token-0123456789"
RECEIVER_TOKEN = "receiver-token-abcdef"


def updated(object_id: str, severity: str, ts: str, old: str = "High") -> dict[str, Any]:
    return detected(object_id, severity, ts, type="ProblemUpdated", old_severity=old)


def cleared(object_id: str, ts: str, severity: str = "Medium") -> dict[str, Any]:
    return detected(object_id, severity, ts, type="ProblemCleared")


def secret(name: str, token: str = API_TOKEN, **keys: str) -> dict[str, Any]:
    return causely_secret(name, token, namespace="causely", **keys)


class Harness:
    def __init__(self, tmp: Path, sim: Simulator, settings: Settings, worker_options: dict[str, Any]) -> None:
        self.tmp = tmp
        self.sim = sim
        self.settings = settings
        self.worker_options = worker_options
        self.journal: SqliteJournal
        self.pipeline: Pipeline
        self.url = ""
        self.http = httpx.AsyncClient(timeout=30)
        self.events: list[tuple[str, str, str]] = []

    def record_event(
        self, destination_id: str, reason: str, message: str, *, warning: bool = False, object_id: str | None = None
    ) -> None:
        self.events.append((destination_id, reason, message))

    async def start(self, destinations: Iterable[DestinationConfig]) -> None:
        self.journal = await SqliteJournal.open(self.tmp / "journal.sqlite")
        self.pipeline = Pipeline(self.journal, self.settings, events=self.record_event,
                                 worker_options=self.worker_options)
        self.pipeline.set_destinations(list(destinations))
        self.runner, port = await serve(Receiver(self.pipeline, token=RECEIVER_TOKEN).app(), "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}/notifications"

    def dest(self, name: str, **keys: str) -> DestinationConfig:
        return from_secret(secret(name, **keys), self.settings)

    async def post(self, body: dict[str, Any] | bytes, *, token: str | None = RECEIVER_TOKEN,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        content = body if isinstance(body, bytes) else json.dumps(copy.deepcopy(body)).encode()
        return await self.http.post(self.url, content=content, headers=h)

    async def ready(self, dest_id: str, timeout: float = 30.0) -> None:
        worker = self.pipeline.workers[dest_id]
        for _ in range(int(timeout / 0.02)):
            if worker.health.ready:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{dest_id} not ready: {worker.health}")

    async def sim_sleep(self) -> None:
        await asyncio.sleep(0.02)

    async def idle(self, timeout: float = 60.0) -> None:
        await self.pipeline.wait_idle(timeout)

    def incidents(self) -> list[dict[str, Any]]:
        return self.sim.incidents()

    async def record(self, dest_id: str, object_id: str) -> Any:
        return await self.journal.record(dest_id, object_id)

    async def close(self) -> None:
        await self.http.aclose()
        await self.runner.cleanup()
        await self.pipeline.stop()
        await self.journal.close()
        await close_pools()
