"""Raw (``_preload_content=False``) responses: kubernetes_asyncio raises for errors only when it preloads, so a
409 or 404 came back as a ``Status`` document and was taken for the object (a lost status write in e2e)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from causely_incidentio.kube.api import KubeApi, checked_body


class RawResponse:
    def __init__(self, status: int, body: dict[str, Any], reason: str = "") -> None:
        self.status = status
        self.reason = reason
        self._body = json.dumps(body).encode()
        self.released = False

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        self.released = True


CONFLICT = {"kind": "Status", "status": "Failure", "reason": "Conflict", "code": 409,
            "message": "the object has been modified; secret-looking detail"}


async def test_a_raw_error_raises_with_status_and_reason_but_not_the_body() -> None:
    resp = RawResponse(409, CONFLICT, "Conflict")
    with pytest.raises(ApiException) as caught:
        await checked_body(resp)
    assert caught.value.status == 409 and resp.released
    assert "secret-looking" not in str(caught.value)


async def test_a_raw_success_returns_the_body() -> None:
    resp = RawResponse(200, {"kind": "Finding"})
    assert json.loads(await checked_body(resp)) == {"kind": "Finding"}


class FakeCustom:
    def __init__(self, resp: RawResponse) -> None:
        self.resp = resp

    async def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> RawResponse:
        return self.resp

    async def patch_namespaced_custom_object_status(self, *args: Any, **kwargs: Any) -> RawResponse:
        return self.resp


async def test_a_missing_finding_reads_as_none_and_a_conflicting_status_write_raises() -> None:
    api = KubeApi.__new__(KubeApi)
    api.custom = FakeCustom(RawResponse(404, {"kind": "Status", "code": 404}, "Not Found"))  # type: ignore[assignment]
    assert await api.get_finding("ns", "x") is None
    api.custom = FakeCustom(RawResponse(409, CONFLICT, "Conflict"))  # type: ignore[assignment]
    with pytest.raises(ApiException):
        await api.patch_finding_status("ns", "x", {"status": {"state": "open"}})
