"""The incident.io organisation the simulator pretends to be: severities, incident types, statuses.

The default is a realistic organisation with one status in every category incident.io has, plus the
names users typically configure as the "resolved" status: **Fixed** is a post-incident (``learning``)
status and **Resolved** a ``closed`` one, so both ways of resolving (into the post-incident flow, or
straight to closed) can be tried. Every object is a dict shaped exactly as the spec's V1 schema, with a
stable id derived from its name, so a configuration that names an id keeps working across restarts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from causely_incidentio.simulator.ids import stable_id

ORG_TIMESTAMP = "2021-08-17T13:28:57.801578Z"

STATUS_CATEGORIES = ("triage", "declined", "merged", "canceled", "live", "learning", "closed", "paused")
RESOLVED_CATEGORIES = frozenset({"learning", "closed"})

# Category rules of POST /v2/incidents/{id}/actions/edit, from the spec's incident_status_id description:
# within a category; active/triage -> post-incident or closed; post-incident -> closed.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "triage": frozenset({"learning", "closed"}),
    "live": frozenset({"learning", "closed"}),
    "learning": frozenset({"closed"}),
}


def transition_allowed(from_category: str, to_category: str) -> bool:
    return from_category == to_category or to_category in ALLOWED_TRANSITIONS.get(from_category, frozenset())


def severity(name: str, rank: int, description: str = "", *, seed: str = "") -> dict[str, Any]:
    """A ``SeverityV1`` dict; ``rank``: higher is more severe."""
    return {
        "id": stable_id(f"{seed}severity:{name}"),
        "name": name,
        "description": description or f"{name} severity.",
        "rank": rank,
        "created_at": ORG_TIMESTAMP,
        "updated_at": ORG_TIMESTAMP,
    }


def incident_type(
    name: str,
    *,
    is_default: bool = False,
    description: str = "",
    private_incidents_only: bool = False,
    create_in_triage: str = "optional",
    seed: str = "",
) -> dict[str, Any]:
    """An ``IncidentTypeV1`` dict."""
    return {
        "id": stable_id(f"{seed}incident_type:{name}"),
        "name": name,
        "description": description or f"{name} incidents.",
        "is_default": is_default,
        "private_incidents_only": private_incidents_only,
        "create_in_triage": create_in_triage,
        "owning_team_ids": [],
        "created_at": ORG_TIMESTAMP,
        "updated_at": ORG_TIMESTAMP,
    }


def incident_status(
    name: str, category: str, rank: int, description: str = "", *, seed: str = ""
) -> dict[str, Any]:
    """An ``IncidentStatusV1`` dict; ``rank`` orders statuses in lists."""
    if category not in STATUS_CATEGORIES:
        expected = ", ".join(STATUS_CATEGORIES)
        raise ValueError(f"unknown status category {category!r} (expected one of {expected})")
    return {
        "id": stable_id(f"{seed}incident_status:{name}"),
        "name": name,
        "description": description or f"{name} ({category}).",
        "category": category,
        "rank": rank,
        "created_at": ORG_TIMESTAMP,
        "updated_at": ORG_TIMESTAMP,
    }


def custom_field(
    name: str, field_type: str = "text", description: str = "", *, seed: str = ""
) -> dict[str, Any]:
    """A ``CustomFieldTypeInfoV2`` dict (text, link or numeric; the simulator does not model options)."""
    if field_type not in ("text", "link", "numeric"):
        raise ValueError("the simulator supports text, link and numeric custom fields")
    return {
        "id": stable_id(f"{seed}custom_field:{name}"),
        "name": name,
        "description": description or name,
        "field_type": field_type,
        "options": [],
    }


def incident_timestamp(name: str, rank: int, *, seed: str = "") -> dict[str, Any]:
    """An ``IncidentTimestampV2`` dict."""
    return {"id": stable_id(f"{seed}incident_timestamp:{name}"), "name": name, "rank": rank}


def _default_severities() -> list[dict[str, Any]]:
    return [
        severity("Minor", 1, "Issues with **low impact**."),
        severity("Major", 2, "Issues causing **significant impact**."),
        severity("Critical", 3, "Issues causing **very high impact**, such as a full outage."),
    ]


def _default_incident_types() -> list[dict[str, Any]]:
    return [
        incident_type("Default", is_default=True, description="Incidents that fit no other type."),
        incident_type("Production Outage", description="Customer facing production outages."),
    ]


def _default_statuses() -> list[dict[str, Any]]:
    names = [
        ("Triage", "triage"),
        ("Investigating", "live"),
        ("Fixing", "live"),
        ("Monitoring", "live"),
        ("Fixed", "learning"),
        ("Documenting", "learning"),
        ("Reviewing", "learning"),
        ("Resolved", "closed"),
        ("Closed", "closed"),
        ("Paused", "paused"),
        ("Declined", "declined"),
        ("Merged", "merged"),
        ("Canceled", "canceled"),
    ]
    return [incident_status(name, category, rank) for rank, (name, category) in enumerate(names, start=1)]


def _default_custom_fields() -> list[dict[str, Any]]:
    return [custom_field("Root cause", "text"), custom_field("Causely link", "link")]


def _default_timestamps() -> list[dict[str, Any]]:
    return [
        incident_timestamp("Reported at", 1),
        incident_timestamp("Resolved at", 2),
        incident_timestamp("Closed at", 3),
    ]


def _check_unique(items: Iterable[dict[str, Any]], what: str) -> None:
    ids: set[str] = set()
    names: set[str] = set()
    for item in items:
        if item["id"] in ids:
            raise ValueError(f"duplicate {what} id {item['id']}")
        if item["name"].casefold() in names:
            raise ValueError(f"duplicate {what} name {item['name']!r}")
        ids.add(item["id"])
        names.add(item["name"].casefold())


def _by_id(items: Iterable[dict[str, Any]], item_id: str) -> dict[str, Any] | None:
    return next((item for item in items if item["id"] == item_id), None)


def _by_name(items: Iterable[dict[str, Any]], name: str) -> dict[str, Any] | None:
    folded = name.casefold()
    return next((item for item in items if item["name"].casefold() == folded), None)


@dataclass
class Organisation:
    """One incident.io organisation. Lists hold spec-shaped dicts; look-ups are case-insensitive by name.

    The lists are live: a test may change them while the simulator runs (an admin deleting a severity),
    and look-ups, listings and validation follow. They are a handful of items, so look-ups scan them.
    """

    severities: list[dict[str, Any]] = field(default_factory=_default_severities)
    incident_types: list[dict[str, Any]] = field(default_factory=_default_incident_types)
    statuses: list[dict[str, Any]] = field(default_factory=_default_statuses)
    custom_fields: list[dict[str, Any]] = field(default_factory=_default_custom_fields)
    timestamps: list[dict[str, Any]] = field(default_factory=_default_timestamps)
    name: str = "Simulated Org"
    slug: str = "simulated-org"
    slack_team_id: str = "T02A1FSLE8J"

    def __post_init__(self) -> None:
        _check_unique(self.severities, "severity")
        _check_unique(self.incident_types, "incident type")
        _check_unique(self.statuses, "incident status")
        _check_unique(self.custom_fields, "custom field")
        _check_unique(self.timestamps, "incident timestamp")
        for status in self.statuses:
            if status["category"] not in STATUS_CATEGORIES:
                raise ValueError(f"status {status['name']!r} has unknown category {status['category']!r}")
        if self.first_status("live") is None:
            raise ValueError("an organisation needs at least one status in category 'live'")
        if sum(1 for t in self.incident_types if t["is_default"]) > 1:
            raise ValueError("at most one incident type can be the default")

    # -- look-ups (None when absent, so callers decide whether that is a 404 or a 422)

    def severity(self, severity_id: str) -> dict[str, Any] | None:
        return _by_id(self.severities, severity_id)

    def severity_by_name(self, name: str) -> dict[str, Any] | None:
        return _by_name(self.severities, name)

    def incident_type(self, type_id: str) -> dict[str, Any] | None:
        return _by_id(self.incident_types, type_id)

    def incident_type_by_name(self, name: str) -> dict[str, Any] | None:
        return _by_name(self.incident_types, name)

    def default_incident_type(self) -> dict[str, Any] | None:
        return next((t for t in self.incident_types if t["is_default"]), None)

    def status(self, status_id: str) -> dict[str, Any] | None:
        return _by_id(self.statuses, status_id)

    def status_by_name(self, name: str) -> dict[str, Any] | None:
        return _by_name(self.statuses, name)

    def statuses_in(self, categories: Sequence[str]) -> list[dict[str, Any]]:
        return sorted((s for s in self.statuses if s["category"] in categories), key=lambda s: s["rank"])

    def first_status(self, category: str) -> dict[str, Any] | None:
        found = self.statuses_in((category,))
        return found[0] if found else None

    def custom_field(self, field_id: str) -> dict[str, Any] | None:
        return _by_id(self.custom_fields, field_id)

    def timestamp(self, timestamp_id: str) -> dict[str, Any] | None:
        return _by_id(self.timestamps, timestamp_id)

    def timestamp_by_name(self, name: str) -> dict[str, Any] | None:
        return _by_name(self.timestamps, name)

    @property
    def dashboard_path(self) -> str:
        return f"/{self.slug}"
