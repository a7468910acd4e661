"""A redirect from the allowed API host is never followed: the API key must not travel to another host."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx
from incidentio_fakes import BASE, TOKEN

from causely_incidentio.incidentio import IncidentIOClient, IncidentIOError


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_an_error_and_the_other_host_sees_nothing(
    make_client: Callable[..., IncidentIOClient], status: int
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{BASE}/v2/incidents/01INC").mock(
            return_value=httpx.Response(status, headers={"Location": "https://evil.example/v2/incidents/01INC"},
                                        text=f"moved, key {TOKEN}")
        )
        elsewhere = mock.route(host="evil.example").mock(return_value=httpx.Response(200, json={}))
        with pytest.raises(IncidentIOError) as caught:
            await make_client().show_incident("01INC")
    assert not elsewhere.called
    assert caught.value.status == status
    assert TOKEN not in str(caught.value) and "evil.example" not in str(caught.value)
