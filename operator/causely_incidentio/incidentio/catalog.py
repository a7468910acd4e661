"""Cached severities, incident types and statuses of one incident.io organisation.

Every create and resolve needs them, and they change rarely (an admin renames a status, adds a
severity), so they are fetched once per TTL instead of once per incident. A lookup that misses refreshes
once before failing, so a severity or status created a minute ago is found without waiting out the TTL,
and a typo fails with a precise message listing what exists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

from .client import IncidentIOClient
from .models import IncidentStatus, IncidentType, Severity
from .severity import CRITICAL_RULE, DEFAULT_RULE, SeverityResolutionError, resolve_severity, severity_by_name

log = logging.getLogger(__name__)

T = TypeVar("T")


class CatalogLookupError(ValueError):
    """A severity, status or incident type the configuration names does not exist in incident.io."""


class _CachedList(Generic[T]):
    """One list from the API with the time it was fetched."""

    def __init__(
        self, fetch: Callable[[], Awaitable[list[T]]], ttl: float, clock: Callable[[], float]
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._items: list[T] | None = None
        self._fetched_at = 0.0

    async def get(self, *, refresh: bool = False) -> tuple[list[T], bool]:
        """The items, and whether they were fetched by this call (so a miss is worth a refresh or not)."""
        now = self._clock()
        if refresh or self._items is None or now - self._fetched_at >= self._ttl:
            items = await self._fetch()
            self._items, self._fetched_at = items, self._clock()
            return list(items), True
        return list(self._items), False

    def invalidate(self) -> None:
        self._items = None


class Catalog:
    """Severities, incident types and statuses for one client (one API key), cached for ``ttl_seconds``."""

    def __init__(
        self,
        client: IncidentIOClient,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._noted_no_critical = False
        self._severities = _CachedList(client.list_severities, ttl_seconds, clock)
        self._types = _CachedList(client.list_incident_types, ttl_seconds, clock)
        self._statuses = _CachedList(client.list_incident_statuses, ttl_seconds, clock)

    def invalidate(self) -> None:
        """Forget everything; the next lookup fetches again."""
        for cache in (self._severities, self._types, self._statuses):
            cache.invalidate()

    async def severities(self) -> list[Severity]:
        return (await self._severities.get())[0]

    async def incident_types(self) -> list[IncidentType]:
        return (await self._types.get())[0]

    async def statuses(self) -> list[IncidentStatus]:
        return (await self._statuses.get())[0]

    async def severity_for(
        self,
        causely_severity: str,
        *,
        severity_id: str | None = None,
        severity_map: Mapping[str, str] | None = None,
        severity_rule: str = DEFAULT_RULE,
    ) -> Severity:
        """The incident.io severity for a Causely severity, by the rule of :func:`.resolve_severity`."""
        items, fresh = await self._severities.get()
        no_critical = items and severity_by_name(items, CRITICAL_RULE) is None
        if severity_rule == CRITICAL_RULE and no_critical and not self._noted_no_critical:
            self._noted_no_critical = True  # say once why incidents get another severity than "Critical"
            log.warning("no incident.io severity is named Critical: severity rule Critical uses the "
                        "highest-ranked one instead")
        try:
            return resolve_severity(
                items, causely_severity, severity_id=severity_id, severity_map=severity_map,
                rule=severity_rule,
            )
        except SeverityResolutionError as error:
            if fresh:
                raise CatalogLookupError(str(error)) from error
        items, _ = await self._severities.get(refresh=True)
        try:
            return resolve_severity(
                items, causely_severity, severity_id=severity_id, severity_map=severity_map,
                rule=severity_rule,
            )
        except SeverityResolutionError as error:
            raise CatalogLookupError(str(error)) from error

    async def status_by_name(self, name: str) -> IncidentStatus:
        """The status called ``name`` (case-insensitive), e.g. the configured "resolved" status."""
        wanted = name.strip().casefold()

        def pick(items: list[IncidentStatus]) -> IncidentStatus | None:
            return next((s for s in items if s.name.strip().casefold() == wanted), None)

        items, fresh = await self._statuses.get()
        found = pick(items)
        if found is None and not fresh:
            items, _ = await self._statuses.get(refresh=True)
            found = pick(items)
        if found is None:
            available = ", ".join(f"{s.name!r} ({s.category})" for s in sorted(items, key=lambda s: s.rank))
            raise CatalogLookupError(
                f"incident status {name!r} does not exist in incident.io; available: {available or 'none'}"
            )
        return found

    async def default_incident_type(self) -> IncidentType | None:
        """The organisation's default incident type, or None (types not enabled, or no default)."""
        items = await self.incident_types()
        return next((t for t in items if t.is_default), None)

    async def incident_type(self, id: str) -> IncidentType:
        """The incident type with this id."""

        def pick(items: list[IncidentType]) -> IncidentType | None:
            return next((t for t in items if t.id == id), None)

        items, fresh = await self._types.get()
        found = pick(items)
        if found is None and not fresh:
            items, _ = await self._types.get(refresh=True)
            found = pick(items)
        if found is None:
            available = ", ".join(f"{t.name!r} (id {t.id})" for t in items)
            raise CatalogLookupError(
                f"incident type id {id!r} does not exist in incident.io; available: {available or 'none'}"
            )
        return found
