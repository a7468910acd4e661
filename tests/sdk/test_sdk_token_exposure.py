"""Evidence for docs/incidentio-client.md ("Why not incident.io's SDK"): where the SDK keeps the API token.

These pin the SDK's behaviour, not ours: if a new SDK version stops exposing the token in these places, a
test here fails and the decision recorded in the docs should be looked at again. The product's own client
is held to the opposite in tests/unit/incidentio.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from incident_io import AuthenticatedClient
from incident_io.api.severities_v1 import severities_v1_list

SECRET = "sdk-secret-token-5b7a"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_sdk_client_repr_shows_the_token() -> None:
    client = AuthenticatedClient(base_url="http://127.0.0.1:1", token=SECRET)
    assert SECRET in repr(client)


async def test_a_transport_error_from_the_sdk_carries_the_token_in_its_request_headers() -> None:
    async with AuthenticatedClient(base_url=f"http://127.0.0.1:{_closed_port()}", token=SECRET) as client:
        with pytest.raises(httpx.ConnectError) as exc:
            await severities_v1_list.asyncio_detailed(client=client)
    assert SECRET not in str(exc.value)
    assert exc.value.request.headers["Authorization"] == f"Bearer {SECRET}"
