"""A token Secret that withdraws its opt-in label stops being used as an API key at the next token refresh.

The operator reads tokenSecretRef Secrets by name every ``token_refresh`` seconds (they are not watched).
Removing the label ``notifications.causely.ai/incident-io-token`` while leaving the value alone must make the
destination invalid, exactly as if the label had never been there; otherwise an opt-out only takes effect
when the token or the destination happens to change.
"""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from finding_fakes import FakeFindingApi
from kubernetes_asyncio.client import Configuration

from causely_incidentio.destinations import TOKEN_OPT_IN_LABEL
from causely_incidentio.kube.runtime import OperatorRuntime
from causely_incidentio.settings import Settings

DEST = "incidentdestination/ns/dest"


class Api(FakeFindingApi):
    """Findings in memory, one token Secret readable by name, status patches dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.api_client = SimpleNamespace(configuration=Configuration())
        self.secret: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"namespace": "ns", "name": "key", "uid": "s", "resourceVersion": "1",
                         "labels": {TOKEN_OPT_IN_LABEL: "true"}},
            "data": {"token": base64.b64encode(b"api-key-value").decode(),
                     "password": base64.b64encode(b"db-password").decode()},
        }

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        if (namespace, name) != ("ns", "key"):
            return None
        return copy.deepcopy(self.secret)

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:  # type: ignore[override]
        return None


@pytest.fixture
async def runtime() -> AsyncIterator[OperatorRuntime]:
    rt = OperatorRuntime(Api(), Settings(), namespaces=["ns"], listen=("127.0.0.1", 0), receiver_token="t",
                         home_namespace="ns")
    rt.timing.token_refresh = 0.01
    await rt.on_destination(None, {
        "apiVersion": "notifications.causely.ai/v1alpha1", "kind": "IncidentDestination",
        "metadata": {"namespace": "ns", "name": "dest", "uid": "d", "generation": 1},
        "spec": {"tokenSecretRef": {"name": "key", "key": "token"}},
    })
    yield rt
    await rt._lease_client.close()


async def refresh_once(rt: OperatorRuntime) -> None:
    task = asyncio.create_task(rt._refresh_tokens())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_removing_the_opt_in_label_invalidates_the_destination(runtime: OperatorRuntime) -> None:
    assert DEST in runtime.pipeline.configs  # opted in: a valid destination
    api = runtime.api
    assert isinstance(api, Api)
    del api.secret["metadata"]["labels"][TOKEN_OPT_IN_LABEL]
    api.secret["metadata"]["resourceVersion"] = "2"
    await refresh_once(runtime)
    assert DEST not in runtime.pipeline.configs
    assert "has not opted in" in runtime.pipeline.invalid[DEST].error.message


async def test_adding_the_label_later_makes_it_valid(runtime: OperatorRuntime) -> None:
    api = runtime.api
    assert isinstance(api, Api)
    api.secret["metadata"]["labels"] = {TOKEN_OPT_IN_LABEL: "false"}
    await refresh_once(runtime)
    assert DEST not in runtime.pipeline.configs
    api.secret["metadata"]["labels"] = {TOKEN_OPT_IN_LABEL: "true"}
    await refresh_once(runtime)
    assert DEST in runtime.pipeline.configs
