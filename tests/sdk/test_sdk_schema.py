"""The simulator's schemas (vendored spec + live overlay) are exactly what incident.io's SDK demands.

Compared for every request, response and error schema of the endpoints the simulator serves, and for every
schema those reference: the same properties, the same required ones, the same shapes (types, date-time
formats, enum values, items). Without the overlay these fail for ``IncidentV2`` (``last_activity_at``,
``team_ids``) and ``ErrorResponse`` (absent from the vendored spec).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sdk_schema import (
    ERROR_SCHEMA,
    derived_overlay,
    endpoint_schemas,
    product_roots,
    sdk_model,
    sdk_reachable,
    sdk_version,
    sdk_view,
    spec_view,
)

from causely_incidentio.simulator import spec
from causely_incidentio.simulator.overlay import load_overlay

ROOT = Path(__file__).resolve().parents[2]


def _known() -> frozenset[str]:
    return frozenset(spec.components())


def _schemas() -> list[str]:
    from sdk_schema import PRODUCT_ENDPOINTS, SIMULATOR_ONLY_ENDPOINTS

    names = set(endpoint_schemas(PRODUCT_ENDPOINTS + SIMULATOR_ONLY_ENDPOINTS)) | {ERROR_SCHEMA}
    return sorted(names | set(sdk_reachable(product_roots())))


def test_the_overlay_names_the_sdk_it_was_derived_from_and_that_sdk_is_the_pinned_one() -> None:
    derived_from = load_overlay()["derived_from"]
    pins = dict(line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().split() if "==" in line)
    assert derived_from["package"] == "incident-io"
    assert derived_from["version"] == sdk_version() == pins["incident-io"]
    provenance = (ROOT / "operator/causely_incidentio/data/PROVENANCE.md").read_text(encoding="utf-8")
    assert f"incident-io` {sdk_version()}" in provenance


def test_the_overlay_is_what_the_sdk_implies_nothing_more() -> None:
    overlay = load_overlay()
    assert derived_overlay(product_roots()) == {"changed": overlay["changed"], "added": overlay["added"]}


@pytest.mark.parametrize("name", _schemas())
def test_schema_matches_the_sdk_model(name: str) -> None:
    model = sdk_model(name)
    assert model is not None, f"the SDK has no model for {name}"
    assert name in spec.components(), f"{name} is in the SDK but in neither the spec nor the overlay"
    assert spec_view(spec.component(name)) == sdk_view(model, _known())


def test_the_comparison_sees_the_live_changes_the_vendored_spec_lacks() -> None:
    """Guards the comparison itself: the vendored IncidentV2 alone must not pass it."""
    model = sdk_model("IncidentV2")
    assert model is not None
    live = sdk_view(model, _known())
    vendored = spec_view(spec.vendored_components()["IncidentV2"])
    assert {"last_activity_at", "team_ids"} <= set(live["required"]) - set(vendored["required"])
    assert ERROR_SCHEMA not in spec.vendored_components()


def test_the_schemas_cover_every_endpoint_of_the_product_client() -> None:
    """PRODUCT_ENDPOINTS lists every path the product's client calls (read from its source)."""
    from sdk_schema import PRODUCT_ENDPOINTS

    source = (ROOT / "operator/causely_incidentio/incidentio/client.py").read_text(encoding="utf-8")
    called = set(re.findall(r'"(GET|POST)", "(/v\d/[a-z_/{}]+)"', source))
    called |= {("POST", t) for t in re.findall(r'template = "(/v\d/[a-z_/{}]+)"', source)}
    assert called == set(PRODUCT_ENDPOINTS)


@pytest.mark.parametrize(("ours", "live"), [
    ("Incident", "IncidentV2"),
    ("IncidentStatus", "IncidentStatusV1"),
    ("IncidentStatus", "IncidentStatusV2"),
    ("Severity", "SeverityV1"),
    ("Severity", "SeverityV2"),
    ("IncidentType", "IncidentTypeV1"),
    ("IncidentType", "IncidentTypeV2"),
    ("Identity", "IdentityV1"),
])
def test_the_product_models_require_only_what_the_live_schema_guarantees(ours: str, live: str) -> None:
    """The product's pydantic models must not fail on a response the live API may legitimately send."""
    from causely_incidentio.incidentio import models

    model = getattr(models, ours)
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    sdk = sdk_model(live)
    assert sdk is not None
    guaranteed = set(sdk_view(sdk, _known())["required"])
    assert required <= guaranteed, f"{ours} requires {sorted(required - guaranteed)}, optional in {live}"
