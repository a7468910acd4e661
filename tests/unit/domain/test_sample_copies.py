"""The demo's packaged samples and the test fixtures are the same published files."""

from __future__ import annotations

from pathlib import Path

from domain_fixtures import FIXTURES

import causely_incidentio

SAMPLES = Path(causely_incidentio.__file__).parent / "data" / "samples"


def test_samples_equal_fixtures() -> None:
    for folder in ("payloads", "secrets"):
        fixtures = {p.name: p.read_bytes() for p in (FIXTURES / folder).iterdir()}
        samples = {p.name: p.read_bytes() for p in (SAMPLES / folder).iterdir()}
        assert fixtures, folder
        assert samples == fixtures, folder
