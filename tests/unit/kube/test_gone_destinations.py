"""A deleted destination is forgotten once its Findings are collected: nothing is kept per deleted destination.

``gone_since`` times a deleted destination's grace period. After the grace, the garbage collector removes the
destination and its Findings; the entry must go too, or every destination ever deleted (CI namespaces,
renamed destinations) stays in memory and is "removed" again on every pass for the life of the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from finding_fakes import FakeFindingApi
from kubernetes_asyncio.client import Configuration

from causely_incidentio.kube.runtime import OperatorRuntime
from causely_incidentio.settings import Settings

BODY = {
    "apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
    "metadata": {"namespace": "ns", "name": "gone", "uid": "g1", "generation": 1},
    "spec": {"tokenSecretRef": {"name": "key", "key": "token"}},
}
DEST = "incidentdestination/ns/gone"


class Api(FakeFindingApi):
    def __init__(self) -> None:
        super().__init__()
        self.api_client = SimpleNamespace(configuration=Configuration())

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:  # type: ignore[override]
        return None


@pytest.fixture
async def runtime() -> AsyncIterator[OperatorRuntime]:
    rt = OperatorRuntime(Api(), Settings(), namespaces=["ns"], listen=("127.0.0.1", 0), receiver_token="t",
                         home_namespace="ns")
    rt.timing.gc_interval = 0.01
    rt.timing.orphan_grace = 0.0
    yield rt
    await rt._lease_client.close()


async def gc_passes(rt: OperatorRuntime) -> None:
    task = asyncio.create_task(rt._gc_loop())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_deleted_destination_is_forgotten_after_its_grace(runtime: OperatorRuntime) -> None:
    await runtime.on_destination(None, BODY)
    await runtime.store.counters(DEST)  # the leader counted something for it
    await runtime.on_destination("DELETED", BODY)
    assert DEST in runtime.gone_since
    await gc_passes(runtime)
    assert DEST not in runtime.pipeline.invalid and DEST not in runtime.pipeline.configs
    assert DEST not in runtime.gone_since
    assert runtime.store.counter_values(DEST) == {}


async def test_a_destination_back_before_the_pass_is_not_forgotten_as_gone(runtime: OperatorRuntime) -> None:
    await runtime.on_destination(None, BODY)
    await runtime.on_destination("DELETED", BODY)
    await runtime.on_destination(None, {**BODY, "metadata": {**BODY["metadata"], "uid": "g2"}})  # type: ignore[dict-item]
    assert DEST not in runtime.gone_since
    await gc_passes(runtime)
    assert DEST in runtime.objects and DEST in runtime.pipeline.invalid  # still tracked (its token is missing)
