"""A compiled yes/no check for the small subset of JSON Schema the incident.io spec uses.

jsonschema walks a schema generically and costs about a millisecond per incident, which made response
validation the simulator's hot spot. The spec's component schemas only use ``type``, ``properties``,
``required``, ``items``, ``enum``, ``format``, ``maxLength``/``minLength`` and ``maximum``/``minimum``
(plus ``additionalProperties`` in strict mode), so they compile to a tree of plain closures that answer
"valid?" an order of magnitude faster. Only when the answer is no does the caller ask jsonschema for the
precise errors. A schema using anything else raises :class:`Unsupported` and the caller keeps jsonschema.
Draft 4 semantics: ``integer`` is an int but not a bool (1.0 is not an integer), ``number`` excludes bools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset({"description", "title", "default", "example", "examples", "readOnly", "writeOnly",
                         "deprecated"})

_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


class Unsupported(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _required(names: tuple[str, ...]) -> Check:
    return lambda v: not isinstance(v, dict) or all(n in v for n in names)


def _enum(allowed: frozenset[str]) -> Check:
    return lambda v: isinstance(v, str) and v in allowed


def _format(fmt: Check) -> Check:
    return lambda v: not isinstance(v, str) or fmt(v)


def _length(limit: int, *, maximum: bool) -> Check:
    if maximum:
        return lambda v: not isinstance(v, str) or len(v) <= limit
    return lambda v: not isinstance(v, str) or len(v) >= limit


def _bound(limit: float, *, maximum: bool) -> Check:
    if maximum:
        return lambda v: not _is_number(v) or v <= limit
    return lambda v: not _is_number(v) or v >= limit


def _items(item: Check) -> Check:
    return lambda v: not isinstance(v, list) or all(item(x) for x in v)


def _properties(props: dict[str, Check]) -> Check:
    pairs = tuple(props.items())
    return lambda v: not isinstance(v, dict) or all(check(v[name]) for name, check in pairs if name in v)


def _closed(known: frozenset[str]) -> Check:
    return lambda v: not isinstance(v, dict) or known.issuperset(v)


def _extra(known: frozenset[str], each: Check) -> Check:
    return lambda v: not isinstance(v, dict) or all(each(x) for k, x in v.items() if k not in known)


def _all(checks: tuple[Check, ...]) -> Check:
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


def compile_schema(schema: Mapping[str, Any], formats: Mapping[str, Check]) -> Check:
    """Compile an inlined (``$ref``-free) schema into a predicate; raises :class:`Unsupported`."""
    checks: list[Check] = []
    for key, value in schema.items():
        if key in ANNOTATIONS or key.startswith("x-") or key in ("properties", "additionalProperties"):
            continue
        if key == "type":
            if not isinstance(value, str) or value not in _TYPES:
                raise Unsupported(f"type {value!r}")
            checks.append(_TYPES[value])
        elif key == "required":
            checks.append(_required(tuple(value)))
        elif key == "enum":
            if not all(isinstance(e, str) for e in value):
                raise Unsupported("non-string enum")
            checks.append(_enum(frozenset(value)))
        elif key == "format":
            if value in formats:
                checks.append(_format(formats[value]))
        elif key in ("maxLength", "minLength"):
            checks.append(_length(int(value), maximum=key == "maxLength"))
        elif key in ("maximum", "minimum") and _is_number(value) and not (
                schema.get("exclusiveMaximum") or schema.get("exclusiveMinimum")):
            checks.append(_bound(value, maximum=key == "maximum"))
        elif key == "items" and isinstance(value, dict):
            checks.append(_items(compile_schema(value, formats)))
        else:
            raise Unsupported(f"keyword {key!r}")
    properties = {name: compile_schema(sub, formats) for name, sub in schema.get("properties", {}).items()}
    if properties:
        checks.append(_properties(properties))
    extra = schema.get("additionalProperties", True)
    if extra is False:
        checks.append(_closed(frozenset(properties)))
    elif isinstance(extra, dict):
        checks.append(_extra(frozenset(properties), compile_schema(extra, formats)))
    elif extra is not True:
        raise Unsupported("additionalProperties")
    return _all(tuple(checks))
