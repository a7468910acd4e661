"""Destination filters (``notif_config_filters``): parsing with precise errors, and evaluation.

The rule language is Causely's (from CauselyBot): ``{"field", "operator", "value"}`` with ``equals``,
``not_equals``, ``in`` and ``not_in``. Semantics, chosen to match CauselyBot:

- rules on different fields are ANDed;
- every ``equals``/``in`` rule on one field pools its values into a single OR set;
- every ``not_equals``/``not_in`` rule must hold on its own;
- a field the notification does not have fails every rule on it, ``not_equals`` included (a filter that
  names a field only ever passes findings that carry it);
- a disabled filter set, or an empty one, passes everything.

A mistyped field, operator or severity would silently drop every finding, so each is a configuration error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from causely_incidentio.payload import Notification
from causely_incidentio.problems import InvalidInput, Problem
from causely_incidentio.severities import ALLOWED_SEVERITIES
from causely_incidentio.severities import parse as parse_severity

Operator = Literal["equals", "not_equals", "in", "not_in"]
OPERATORS: tuple[str, ...] = get_args(Operator)
LIST_OPERATORS = frozenset({"in", "not_in"})
POSITIVE_OPERATORS = frozenset({"equals", "in"})

FIXED_FIELDS = ("severity", "name", "entity.type", "impactsSLO")
LABEL_PREFIX = "labels."
ALLOWED_FIELDS = "severity, name, entity.type, impactsSLO or labels.<label key>"
RULE_KEYS = frozenset({"field", "operator", "value", "values"})


class FilterRule(BaseModel):
    """One rule; ``value`` is a string or boolean for equals/not_equals, a list for in/not_in."""

    model_config = ConfigDict(frozen=True)

    field: str
    operator: Operator
    value: str | bool | list[str]

    def values(self) -> tuple[str, ...]:
        """The rule's values as comparable text (see :func:`_normalise`)."""
        raw = self.value if isinstance(self.value, list) else [self.value]
        return tuple(_normalise(self.field, v) for v in raw)


class FilterSet(BaseModel):
    """A destination's parsed filters; ``matches`` decides whether a notification goes to it."""

    model_config = ConfigDict(frozen=True)

    rules: tuple[FilterRule, ...] = ()
    enabled: bool = False

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.rules)

    def matches(self, n: Notification) -> bool:
        if not self.active:
            return True
        for field, rules in _by_field(self.rules).items():
            actual = field_value(n, field)
            if actual is None:
                return False
            pooled = {v for r in rules if r.operator in POSITIVE_OPERATORS for v in r.values()}
            if pooled and actual not in pooled:
                return False
            for rule in rules:
                if rule.operator not in POSITIVE_OPERATORS and actual in rule.values():
                    return False
        return True

    def describe(self) -> str:
        """One line for status and logs, e.g. ``severity in (Critical, High) AND impactsSLO = true``."""
        if not self.enabled:
            return "filters disabled (all notifications pass)"
        if not self.rules:
            return "no filters (all notifications pass)"
        parts: list[str] = []
        for field, rules in _by_field(self.rules).items():
            pooled = [_shown(v) for r in rules if r.operator in POSITIVE_OPERATORS for v in _raw_values(r)]
            if len(pooled) == 1:
                parts.append(f"{field} = {pooled[0]}")
            elif pooled:
                parts.append(f"{field} in ({', '.join(pooled)})")
            for rule in rules:
                if rule.operator == "not_equals":
                    parts.append(f"{field} != {_shown(_raw_values(rule)[0])}")
                elif rule.operator == "not_in":
                    parts.append(f"{field} not in ({', '.join(_shown(v) for v in _raw_values(rule))})")
        return " AND ".join(parts)


def _raw_values(rule: FilterRule) -> list[str | bool]:
    return list(rule.value) if isinstance(rule.value, list) else [rule.value]


def _shown(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _by_field(rules: Sequence[FilterRule]) -> dict[str, list[FilterRule]]:
    grouped: dict[str, list[FilterRule]] = {}
    for rule in rules:
        grouped.setdefault(rule.field, []).append(rule)
    return grouped


def _normalise(field: str, value: str | bool) -> str:
    """Comparable text: severities compare case-insensitively, booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if field == "severity" or field == "impactsSLO":
        return value.strip().lower()
    return value


def field_value(n: Notification, field: str) -> str | None:
    """The notification's value for a filter field, normalised like rule values; None when absent."""
    if field == "severity":
        return n.severity.value.lower()
    if field == "name":
        return n.name
    if field == "entity.type":
        return n.entity.type if n.entity is not None and n.entity.type is not None else None
    if field == "impactsSLO":
        return "true" if n.impacts_slo else "false"
    if field.startswith(LABEL_PREFIX):
        key = field[len(LABEL_PREFIX) :]
        if key == "k8s.namespace.name":
            return n.namespace
        return n.labels.get(key)
    return None


def parse_filters(raw: str | list[Any] | None, *, enabled: bool, where: str) -> FilterSet:
    """Parse filters from a Secret's JSON string or a resource's list; InvalidInput lists every problem.

    ``None`` and an empty string mean "no filters". Filters are validated even when disabled, so a broken
    filter is reported before someone turns it on.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return FilterSet(rules=(), enabled=enabled)
    items: Any = raw
    if isinstance(raw, str):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                "filters",
                [
                    Problem(
                        where,
                        f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                        'a JSON array such as [{"field": "severity", "operator": "in", "value": ["High"]}]',
                    )
                ],
            ) from None
    if not isinstance(items, list):
        raise InvalidInput(
            "filters", [Problem(where, "is not a list", "a list of {field, operator, value} rules")]
        )
    problems: list[Problem] = []
    rules: list[FilterRule] = []
    for index, item in enumerate(items):
        rule = _parse_rule(item, f"{where}[{index}]", problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise InvalidInput("filters", problems)
    return FilterSet(rules=tuple(rules), enabled=enabled)


def _parse_rule(item: Any, where: str, problems: list[Problem]) -> FilterRule | None:
    if not isinstance(item, Mapping):
        problems.append(Problem(where, "is not an object", "{field, operator, value}"))
        return None
    before = len(problems)
    for key in item:
        if key not in RULE_KEYS:
            problems.append(Problem(f"{where}.{key}", "unknown key", "field, operator, value or values"))

    field = item.get("field")
    if field is None:
        problems.append(Problem(f"{where}.field", "is missing", ALLOWED_FIELDS))
    elif not isinstance(field, str) or not _known_field(field):
        problems.append(Problem(f"{where}.field", f"unknown field {field!r}", ALLOWED_FIELDS))
        field = None

    operator = item.get("operator")
    if operator is None:
        problems.append(Problem(f"{where}.operator", "is missing", "one of " + ", ".join(OPERATORS)))
    elif operator not in OPERATORS:
        problems.append(
            Problem(f"{where}.operator", f"unknown operator {operator!r}", "one of " + ", ".join(OPERATORS))
        )
        operator = None

    found = _rule_value(item, where, operator, problems)
    value: Any = None
    if found is not None:
        key, value = found
        if field is not None and not _check_values(field, value, f"{where}.{key}", problems):
            value = None
    if len(problems) > before or field is None or operator is None or value is None:
        return None
    if isinstance(value, list):
        value = [_shown(v) for v in value]
    return FilterRule(field=field, operator=operator, value=value)


def _known_field(field: str) -> bool:
    return field in FIXED_FIELDS or (field.startswith(LABEL_PREFIX) and len(field) > len(LABEL_PREFIX))


def _rule_value(
    item: Mapping[str, Any], where: str, operator: Any, problems: list[Problem]
) -> tuple[str, Any] | None:
    """``(key, value)`` of the rule; resources write lists under ``values`` (a CRD field cannot be
    string-or-list), Secrets and YAML files may put a list under ``value``."""
    has_value, has_values = "value" in item, "values" in item
    if has_value and has_values:
        problems.append(Problem(f"{where}.values", "is set together with value", "only one of value, values"))
        return None
    if not has_value and not has_values:
        problems.append(Problem(f"{where}.value", "is missing", "a value (or a list for in/not_in)"))
        return None
    key = "values" if has_values else "value"
    value = item[key]
    if operator is None:  # still check the values, so one round of fixes is enough
        elements = value if isinstance(value, list) else [value]
        return (key, value) if all(isinstance(v, str | bool) for v in elements) else None
    if operator in LIST_OPERATORS:
        if not isinstance(value, list):
            problems.append(
                Problem(f"{where}.{key}", f"{operator} needs a list", 'a list such as ["Critical", "High"]')
            )
            return None
        if not value:
            problems.append(
                Problem(
                    f"{where}.{key}", "is an empty list (the rule could never match)", "at least one value"
                )
            )
            return None
        bad = [i for i, element in enumerate(value) if not isinstance(element, str | bool)]
        for i in bad:
            problems.append(Problem(f"{where}.{key}[{i}]", f"is a {_kind(value[i])}", "a string"))
        return None if bad else (key, value)
    if key == "values" or isinstance(value, list):
        problems.append(
            Problem(
                f"{where}.{key}",
                f"{operator} takes a single value, not a list",
                "a string (use in/not_in for a list)",
            )
        )
        return None
    if not isinstance(value, str | bool):
        problems.append(Problem(f"{where}.value", f"is a {_kind(value)}", "a string"))
        return None
    return key, value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _check_values(field: str, value: Any, where: str, problems: list[Problem]) -> bool:
    """Severity and impactsSLO have closed value sets: a typo there is an error, not a silent no-match."""
    ok = True
    for v in value if isinstance(value, list) else [value]:
        if field == "severity":
            try:
                if not isinstance(v, str):
                    raise ValueError(v)
                parse_severity(v)
            except ValueError:
                problems.append(Problem(where, f"unknown severity {v!r}", f"one of {ALLOWED_SEVERITIES}"))
                ok = False
        elif field == "impactsSLO":
            if _normalise(field, v) not in ("true", "false"):
                problems.append(Problem(where, f"{v!r} is not a boolean", "true or false"))
                ok = False
        elif isinstance(v, bool):
            problems.append(
                Problem(where, f"{field} compares text, got a boolean", 'a string (quote it: "true")')
            )
            ok = False
    return ok


__all__ = [
    "ALLOWED_FIELDS",
    "OPERATORS",
    "FilterRule",
    "FilterSet",
    "field_value",
    "parse_filters",
]
