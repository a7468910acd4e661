"""``GET /v2/incidents``: the spec's filters and cursor pagination over the simulator's incidents.

The query has already been parsed and schema-checked by :mod:`spec`; this module checks what the schema
cannot (operators, known ids, the 250 page-size limit from the endpoint description) and selects a page.
Incident ids are time-ordered, so ``after=<id>`` means "ids below it" newest-first and "ids above it"
oldest-first; the cursor stays valid even if that incident no longer matches the filters.

Without a ``mode`` filter only ``standard`` and ``retrospective`` incidents are listed, like the real API:
test incidents appear only with ``mode[one_of]=test``. The mode filter always combines with AND, even with
``filter_mode=any`` (it decides what is listable at all).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from causely_incidentio.simulator.errors import FieldError, validation_error
from causely_incidentio.simulator.organisation import STATUS_CATEGORIES, Organisation
from causely_incidentio.simulator.state import IncidentRecord, IncidentStore

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 250
MODES = frozenset({"standard", "retrospective", "test", "tutorial"})
DEFAULT_MODES = frozenset({"standard", "retrospective"})

Predicate = Callable[[IncidentRecord], bool]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ListQuery:
    page_size: int = DEFAULT_PAGE_SIZE
    after: str | None = None
    newest_first: bool = True
    match_any: bool = False
    modes: frozenset[str] = DEFAULT_MODES
    predicates: tuple[Predicate, ...] = field(default=())


@dataclass(frozen=True)
class Page:
    incidents: list[IncidentRecord]
    after: str | None
    total: int


Key = Callable[[IncidentRecord], str | None]


def _member(key: Key, wanted: frozenset[str], *, negate: bool) -> Predicate:
    def predicate(record: IncidentRecord) -> bool:
        return (key(record) in wanted) != negate

    return predicate


def _date_between(key: Callable[[IncidentRecord], str], low: str | None, high: str | None) -> Predicate:
    def predicate(record: IncidentRecord) -> bool:
        day = key(record)[:10]
        return (low is None or day >= low) and (high is None or day <= high)

    return predicate


def _custom_texts(record: IncidentRecord, field_id: str) -> set[str]:
    return {str(v) for entry in record.custom_fields.get(field_id, []) for v in entry.values()}


def _custom_one_of(field_id: str, wanted: frozenset[str]) -> Predicate:
    def predicate(record: IncidentRecord) -> bool:
        return bool(_custom_texts(record, field_id) & wanted)

    return predicate


def _custom_blank(field_id: str, blank: bool) -> Predicate:
    def predicate(record: IncidentRecord) -> bool:
        return (not _custom_texts(record, field_id)) == blank

    return predicate


def _severity_of(record: IncidentRecord) -> str | None:
    return record.severity_id


def _one_of_not_in(
    name: str,
    ops: Mapping[str, list[str]],
    key: Callable[[IncidentRecord], str | None],
    known: Callable[[str], bool],
    what: str,
    errors: list[FieldError],
) -> list[Predicate]:
    predicates: list[Predicate] = []
    for op, values in ops.items():
        where = f"{name}[{op}]"
        if op not in ("one_of", "not_in"):
            errors.append(FieldError("invalid_operator", f"{name} accepts one_of and not_in", where))
            continue
        unknown = [v for v in values if not known(v)]
        if unknown:
            errors.append(FieldError("invalid_value", f"unknown {what}: {', '.join(unknown)}", where))
            continue
        predicates.append(_member(key, frozenset(values), negate=op == "not_in"))
    return predicates


def _severity_filters(
    ops: Mapping[str, list[str]], org: Organisation, errors: list[FieldError]
) -> list[Predicate]:
    plain = {op: v for op, v in ops.items() if op not in ("gte", "lte")}
    predicates = _one_of_not_in("severity", plain, _severity_of, lambda v: org.severity(v) is not None,
                                "severity id", errors)
    for op in ("gte", "lte"):
        if op not in ops:
            continue
        values = ops[op]
        sev = org.severity(values[0]) if len(values) == 1 else None
        if sev is None:
            errors.append(FieldError("invalid_value", f"severity[{op}] takes exactly one known severity id",
                                     f"severity[{op}]"))
            continue
        rank: int = sev["rank"]

        def by_rank(r: IncidentRecord, op: str = op, rank: int = rank) -> bool:
            own = org.severity(r.severity_id) if r.severity_id else None
            if own is None:
                return False
            return bool(own["rank"] >= rank if op == "gte" else own["rank"] <= rank)

        predicates.append(by_rank)
    return predicates


def _date_filters(
    name: str, ops: Mapping[str, list[str]], key: Callable[[IncidentRecord], str], errors: list[FieldError]
) -> list[Predicate]:
    predicates: list[Predicate] = []
    for op, values in ops.items():
        where = f"{name}[{op}]"
        if op not in ("gte", "lte", "date_range") or len(values) != 1:
            message = f"{name} accepts one value for gte, lte or date_range"
            errors.append(FieldError("invalid_operator", message, where))
            continue
        parts = values[0].split("~") if op == "date_range" else [values[0]]
        if len(parts) != (2 if op == "date_range" else 1) or not all(_DATE.match(p) for p in parts):
            errors.append(FieldError("invalid_value", f"{where} takes a date (YYYY-MM-DD"
                                     f"{'~YYYY-MM-DD' if op == 'date_range' else ''})", where))
            continue
        low = parts[0] if op in ("gte", "date_range") else None
        high = parts[-1] if op in ("lte", "date_range") else None
        predicates.append(_date_between(key, low, high))
    return predicates


def _custom_field_filters(
    ops_by_field: Mapping[str, Mapping[str, list[str]]], org: Organisation, errors: list[FieldError]
) -> list[Predicate]:
    predicates: list[Predicate] = []
    for field_id, ops in ops_by_field.items():
        if org.custom_field(field_id) is None:
            errors.append(FieldError("not_found", f"No custom field with id {field_id!r}",
                                     f"custom_field[{field_id}]"))
            continue
        for op, values in ops.items():
            where = f"custom_field[{field_id}][{op}]"
            if op == "one_of":
                predicates.append(_custom_one_of(field_id, frozenset(values)))
            elif op == "is_blank" and values in (["true"], ["false"]):
                predicates.append(_custom_blank(field_id, values == ["true"]))
            else:
                message = "the simulator supports one_of and is_blank=true|false for custom fields"
                errors.append(FieldError("invalid_operator", message, where))
    return predicates


def parse_list_query(params: Mapping[str, Any], store: IncidentStore) -> ListQuery:
    """Turn the parsed query into a :class:`ListQuery`, or raise a 422 naming every bad parameter."""
    org = store.organisation
    errors: list[FieldError] = []
    predicates: list[Predicate] = []

    page_size = params.get("page_size", DEFAULT_PAGE_SIZE)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        message = f"page_size must be between 1 and {MAX_PAGE_SIZE}"
        errors.append(FieldError("invalid_value", message, "page_size"))
    after = params.get("after")
    after_id = None
    if after is not None:
        found = store.find(after, allow_prefix=False)
        if found is None:
            message = f"after must be the id of an incident, got {after!r}"
            errors.append(FieldError("invalid_value", message, "after"))
        else:
            after_id = found.id

    modes = DEFAULT_MODES
    if "mode" in params:
        for op, values in params["mode"].items():
            if op != "one_of":
                errors.append(FieldError("invalid_operator", "mode accepts one_of", f"mode[{op}]"))
            elif bad := [v for v in values if v not in MODES]:
                errors.append(FieldError("invalid_value", f"unknown mode: {', '.join(bad)} "
                                         f"(expected {', '.join(sorted(MODES))})", "mode[one_of]"))
            else:
                modes = frozenset(values)

    if "status" in params:
        predicates += _one_of_not_in("status", params["status"], lambda r: r.status_id,
                                     lambda v: org.status(v) is not None, "incident status id", errors)
    if "status_category" in params:
        predicates += _one_of_not_in(
            "status_category", params["status_category"],
            lambda r: (org.status(r.status_id) or {}).get("category"),
            lambda v: v in STATUS_CATEGORIES, "status category", errors,
        )
    if "severity" in params:
        predicates += _severity_filters(params["severity"], org, errors)
    if "incident_type" in params:
        predicates += _one_of_not_in("incident_type", params["incident_type"], lambda r: r.type_id,
                                     lambda v: org.incident_type(v) is not None, "incident type id", errors)
    if "created_at" in params:
        predicates += _date_filters("created_at", params["created_at"], lambda r: r.created_at, errors)
    if "updated_at" in params:
        predicates += _date_filters("updated_at", params["updated_at"], lambda r: r.updated_at, errors)
    if "custom_field" in params:
        predicates += _custom_field_filters(params["custom_field"], org, errors)
    for role_id in params.get("incident_role", {}):
        errors.append(FieldError("not_found", f"No incident role with id {role_id!r} (the simulated "
                                 "organisation has no incident roles)", f"incident_role[{role_id}]"))
    if errors:
        raise validation_error(errors)
    return ListQuery(
        page_size=page_size,
        after=after_id,
        newest_first=params.get("sort_by", "created_at_newest_first") == "created_at_newest_first",
        match_any=params.get("filter_mode") == "any",
        modes=modes,
        predicates=tuple(predicates),
    )


def select(records: Sequence[IncidentRecord], query: ListQuery) -> Page:
    """Filter, order and cut one page; ``after`` is set only when another page follows."""
    combine = any if query.match_any else all
    preds = query.predicates
    matching = [
        r for r in records
        if r.mode in query.modes and (not preds or combine(p(r) for p in preds))
    ]
    if query.newest_first:
        matching.reverse()
    rest = matching
    if query.after is not None:
        cursor = query.after
        rest = [r for r in matching if (r.id < cursor if query.newest_first else r.id > cursor)]
    page = rest[: query.page_size]
    more = len(rest) > query.page_size
    return Page(incidents=page, after=page[-1].id if more and page else None, total=len(matching))
