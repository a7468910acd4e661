"""Map a Causely severity onto one of the organisation's incident.io severities (pure, no I/O).

incident.io severities are configured per organisation (names, count and ranks vary), so a fixed table
cannot work. The rule below lets a user pin a severity, map names explicitly, rely on matching names, or
fall back to rank order, and fails loudly with the list of what exists instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .models import Severity

CAUSELY_SEVERITY_ORDER = ("Critical", "High", "Medium", "Low")
"""Causely's severities, most severe first."""


CRITICAL_RULE = "Critical"
MAPPED_RULE = "Mapped"
DEFAULT_RULE = CRITICAL_RULE


def critical_severity(severities: Sequence[Severity]) -> Severity:
    """The severity named Critical (any case), else the highest-ranked (first listed among equals)."""
    found = severity_by_name(severities, CRITICAL_RULE)
    return found if found is not None else sorted(severities, key=lambda s: -s.rank)[0]


class SeverityResolutionError(ValueError):
    """No incident.io severity fits; the message says which input failed and what exists."""


def _describe(severities: Sequence[Severity]) -> str:
    ordered = sorted(severities, key=lambda s: -s.rank)
    return ", ".join(f"{s.name!r} (id {s.id}, rank {s.rank})" for s in ordered)


def severity_by_name(severities: Sequence[Severity], name: str) -> Severity | None:
    """The severity called ``name``, compared case-insensitively."""
    wanted = name.strip().casefold()
    return next((s for s in severities if s.name.strip().casefold() == wanted), None)


def _by_id(severities: Sequence[Severity], severity_id: str) -> Severity | None:
    wanted = severity_id.strip()
    return next((s for s in severities if s.id == wanted), None)


def resolve_severity(
    severities: Sequence[Severity],
    causely_severity: str,
    *,
    severity_id: str | None = None,
    severity_map: Mapping[str, str] | None = None,
    rule: str = DEFAULT_RULE,
) -> Severity:
    """Pick the incident.io severity for a Causely severity. The first rule that applies wins:

    1. ``severity_id`` is set: the severity with that id (it must exist).
    2. ``severity_map`` has the Causely severity (keys compared case-insensitively): the severity whose
       id equals the mapped value, else whose name equals it case-insensitively (it must exist).
    3. ``rule`` ``Critical`` (the default, as Causely documents: "defaults to Critical"): the severity
       named Critical (case-insensitively), else the highest-ranked one, whatever the Causely severity.
    ``rule`` ``Mapped`` instead:
    3. A severity whose name equals the Causely severity case-insensitively.
    4. Rank order: sort the severities by rank, highest (most severe) first; Critical takes index 0,
       High 1, Medium 2, Low 3, clamped at the lowest-ranked one (with three severities, Low gets the
       same as Medium). Equal ranks keep the order incident.io listed them in.

    The Causely severity is case-insensitive. An empty list, an id or mapped value that matches
    nothing, or a Causely severity outside Critical/High/Medium/Low that no rule matched raise
    :class:`SeverityResolutionError`.
    """
    if not severities:
        raise SeverityResolutionError(
            "the incident.io organisation has no severities configured; create at least one"
        )
    available = f"available: {_describe(severities)}"
    if severity_id:
        found = _by_id(severities, severity_id)
        if found is None:
            raise SeverityResolutionError(
                f"severity id {severity_id!r} does not exist in incident.io; {available}"
            )
        return found

    wanted = causely_severity.strip().casefold()
    if severity_map:
        mapped = next((v for k, v in severity_map.items() if k.strip().casefold() == wanted), None)
        if mapped is not None:
            found = _by_id(severities, mapped) or severity_by_name(severities, mapped)
            if found is None:
                raise SeverityResolutionError(
                    f"severity map sends Causely severity {causely_severity!r} to {mapped!r}, which is "
                    f"neither the id nor the name of an incident.io severity; {available}"
                )
            return found

    if rule != MAPPED_RULE:
        return critical_severity(severities)

    found = severity_by_name(severities, causely_severity)
    if found is not None:
        return found

    order = [name.casefold() for name in CAUSELY_SEVERITY_ORDER]
    if wanted not in order:
        expected = ", ".join(CAUSELY_SEVERITY_ORDER)
        raise SeverityResolutionError(
            f"unknown Causely severity {causely_severity!r}: expected one of {expected}, or a severity "
            f"map entry or an incident.io severity with that name; {available}"
        )
    by_rank = sorted(severities, key=lambda s: -s.rank)
    return by_rank[min(order.index(wanted), len(by_rank) - 1)]
