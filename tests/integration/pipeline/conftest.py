from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pipeline_harness import API_TOKEN, Harness

from causely_incidentio.settings import Settings
from causely_incidentio.simulator import Simulator


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with Simulator(tokens=[API_TOKEN, "second-api-token-987"], forbidden_tokens=["forbidden-token-1"],
                         timeout_seconds=3.0) as sim:
        settings = Settings(incident_io_api_url=sim.base_url, incident_io_allowed_api_urls=sim.base_url,
                            incident_io_read_timeout=1.0,
                            incident_io_connect_timeout=1.0, incident_io_retry_max_seconds=20.0)
        h = Harness(tmp_path, sim, settings, {"retry_delay": 0.05, "max_retry_delay": 0.2})
        yield h
        await h.close()
