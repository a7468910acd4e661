"""The parts of incident.io's responses this project reads, as pydantic models.

incident.io promises to add response fields and enum values without notice, so every model keeps
unknown fields (``extra="allow"``) and enum-like fields are plain strings: a new status category or
incident mode must not make a response unreadable. Catalog entries are frozen because the catalog cache
hands the same objects to every caller.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

RESOLVED_CATEGORIES = frozenset({"learning", "closed"})
"""Status categories in which the incident is over as far as responders are concerned."""

TERMINAL_CATEGORIES = frozenset({"closed", "declined", "canceled", "merged"})
"""Status categories an incident does not leave again by itself."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class _CatalogModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Severity(_CatalogModel):
    """An incident.io severity; a higher ``rank`` is more severe."""

    id: str
    name: str
    rank: int
    description: str = ""


class IncidentType(_CatalogModel):
    """An incident type; ``is_default`` marks the one used when a create names none."""

    id: str
    name: str
    description: str = ""
    is_default: bool = False
    private_incidents_only: bool = False
    create_in_triage: str | None = None


class IncidentStatus(_CatalogModel):
    """An incident status; its ``category`` (not its configurable name) says what it means."""

    id: str
    name: str
    category: str
    rank: int = 0
    description: str = ""

    @property
    def is_resolved(self) -> bool:
        """The incident is resolved (post-incident or closed)."""
        return self.category in RESOLVED_CATEGORIES

    @property
    def is_terminal(self) -> bool:
        """The incident is finished for good (closed, declined, canceled or merged)."""
        return self.category in TERMINAL_CATEGORIES


class Identity(_Model):
    """What ``GET /v1/identity`` says about the API key: its name and roles."""

    name: str
    roles: list[str] = Field(default_factory=list)
    dashboard_url: str | None = None


class Incident(_Model):
    """An incident (``IncidentV2``), reduced to what the sync engine records and shows."""

    id: str
    reference: str
    name: str
    summary: str | None = None
    mode: str
    visibility: str
    permalink: str | None = None
    incident_status: IncidentStatus
    severity: Severity | None = None
    incident_type: IncidentType | None = None
    created_at: datetime
    updated_at: datetime


class IncidentPage(_Model):
    """One page of ``GET /v2/incidents``; ``after`` is the cursor for the next page (None: last page)."""

    incidents: list[Incident]
    after: str | None = None
    total_record_count: int | None = None
