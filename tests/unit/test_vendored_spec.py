"""The vendored incident.io OpenAPI spec is the published file, byte for byte, with its provenance."""

from __future__ import annotations

import hashlib
from importlib import resources

SHA256 = "322cf815dc69c4c3e0593db8259a64a9c2f334f011601b4ac4a1e1444ad79ed4"
DATA = resources.files("causely_incidentio") / "data"


def test_the_vendored_spec_is_the_recorded_file() -> None:
    assert hashlib.sha256((DATA / "incidentio-openapi.json").read_bytes()).hexdigest() == SHA256


def test_provenance_names_the_file_and_its_digest() -> None:
    provenance = (DATA / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "incidentio-openapi.json" in provenance
    assert SHA256 in provenance
    assert "incident-io/sdk-go" in provenance
