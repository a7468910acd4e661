"""Error bodies are checked against the live schema's ErrorResponse, like every other response."""

from __future__ import annotations

import httpx
import pytest

from causely_incidentio.simulator import Simulator
from causely_incidentio.simulator import app as sim_app
from causely_incidentio.simulator.errors import ApiError, FieldError

pytestmark = pytest.mark.integration


async def test_an_error_body_outside_the_live_schema_is_reported_as_a_simulator_bug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def old_style(kind: str) -> ApiError:
        return ApiError(500, "internal_server_error", [FieldError("internal_server_error", "boom")])

    monkeypatch.setattr(sim_app, "_fault_error", old_style)
    async with Simulator() as sim, httpx.AsyncClient(
        base_url=sim.base_url, headers={"Authorization": "Bearer any-token"}
    ) as client:
        sim.fail_next(1, "500")
        response = await client.get("/v1/severities")
        assert response.status_code == 500 and response.json()["type"] == "internal_server_error"
        assert len(sim.response_problems) == 1
        assert "500 error -> ErrorResponse: type" in sim.response_problems[0]
        sim.response_problems.clear()
