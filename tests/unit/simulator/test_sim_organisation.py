"""The simulated organisation: its default catalog, look-ups, and the status transition table."""

from __future__ import annotations

import pytest

from causely_incidentio.simulator.organisation import (
    STATUS_CATEGORIES,
    Organisation,
    incident_status,
    incident_type,
    severity,
    transition_allowed,
)


def test_default_severities_rank_up_with_impact() -> None:
    org = Organisation()
    assert [(s["name"], s["rank"]) for s in org.severities] == [("Minor", 1), ("Major", 2), ("Critical", 3)]


def test_default_types_have_one_default() -> None:
    org = Organisation()
    assert [t["name"] for t in org.incident_types] == ["Default", "Production Outage"]
    default = org.default_incident_type()
    assert default is not None and default["name"] == "Default"


def test_every_status_category_is_present() -> None:
    org = Organisation()
    assert {s["category"] for s in org.statuses} == set(STATUS_CATEGORIES)


def test_fixed_is_post_incident_and_resolved_is_closed() -> None:
    org = Organisation()
    assert org.status_by_name("fixed")["category"] == "learning"  # type: ignore[index]
    assert org.status_by_name("RESOLVED")["category"] == "closed"  # type: ignore[index]
    assert org.status_by_name("Closed")["category"] == "closed"  # type: ignore[index]


def test_first_live_status_is_investigating() -> None:
    assert Organisation().first_status("live")["name"] == "Investigating"  # type: ignore[index]


def test_ids_are_stable_across_instances() -> None:
    assert Organisation().severities == Organisation().severities
    assert Organisation().status_by_name("Fixed") == Organisation().status_by_name("Fixed")


def test_lookups_by_id_and_name() -> None:
    org = Organisation()
    minor = org.severity_by_name("minor")
    assert minor is not None and org.severity(minor["id"]) is minor
    assert org.severity("nope") is None
    assert org.incident_type_by_name("production outage") is not None
    assert org.timestamp_by_name("Resolved at") is not None


def test_a_custom_organisation() -> None:
    org = Organisation(
        severities=[severity("SEV3", 1), severity("SEV1", 3)],
        incident_types=[incident_type("Security", private_incidents_only=True)],
        statuses=[incident_status("Open", "live", 1), incident_status("Done", "closed", 2)],
    )
    assert org.default_incident_type() is None
    assert [s["name"] for s in org.statuses_in(("live", "closed"))] == ["Open", "Done"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"statuses": [incident_status("Done", "closed", 1)]},
        {"severities": [severity("A", 1), severity("a", 2, seed="other")]},
        {"incident_types": [incident_type("A", is_default=True), incident_type("B", is_default=True)]},
    ],
)
def test_inconsistent_organisations_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Organisation(**kwargs)  # type: ignore[arg-type]


def test_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError):
        incident_status("X", "active", 1)


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("live", "live", True),
        ("triage", "triage", True),
        ("learning", "learning", True),
        ("live", "learning", True),
        ("live", "closed", True),
        ("triage", "learning", True),
        ("triage", "closed", True),
        ("learning", "closed", True),
        ("triage", "live", False),
        ("learning", "live", False),
        ("closed", "live", False),
        ("closed", "learning", False),
        ("live", "triage", False),
        ("live", "declined", False),
        ("paused", "live", False),
        ("declined", "closed", False),
    ],
)
def test_transition_table(source: str, target: str, allowed: bool) -> None:
    assert transition_allowed(source, target) is allowed


def test_the_lists_are_live() -> None:
    org = Organisation()
    minor = org.severity_by_name("Minor")
    assert minor is not None
    org.severities[:] = [s for s in org.severities if s["name"] != "Minor"]
    assert org.severity(minor["id"]) is None and org.severity_by_name("minor") is None
    org.statuses.append(incident_status("Escalated", "live", 99))
    assert org.status_by_name("escalated") is not None


def test_the_documented_ids_do_not_change() -> None:
    """docs/simulator.md lists these ids for users to put in their configuration."""
    org = Organisation()
    assert org.severity_by_name("Minor")["id"] == "01FDA4T0697YJ9DMQ2SWWRDZ9K"  # type: ignore[index]
    assert org.status_by_name("Fixed")["id"] == "01FDA4T069PV32R6TMEV6G8C8H"  # type: ignore[index]
    assert org.status_by_name("Resolved")["id"] == "01FDA4T069QTKZHPJZP7TPZS3K"  # type: ignore[index]
    assert org.default_incident_type()["id"] == "01FDA4T069VYHS3K00B9BTK4DV"  # type: ignore[index]
