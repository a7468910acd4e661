"""The vendored incident.io OpenAPI spec, turned into the few validators the simulator needs.

Component schemas are the vendored spec's with the live-schema overlay applied (see :mod:`overlay`):
incident.io has changed some of them since the spec was vendored. Paths and parameters come from the
vendored spec as they are.

The spec is 4 MB, so it is read once, lazily, and only the component schemas an operation references are
extracted, with their ``$ref``s inlined. Each validator answers "valid?" with a compiled check and asks
jsonschema (Draft 4, as OpenAPI 3.0 is) for the detailed errors only when the answer is no. Validators are
cached per process, so many simulators in one test run share them.

Requests can be validated *strictly*: every object in a request schema then rejects properties the spec
does not name. The spec itself allows them (and the real API probably ignores them), but a misspelt field
is nearly always a client bug, so the simulator reports it unless told not to.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from causely_incidentio.simulator.errors import FieldError
from causely_incidentio.simulator.fastcheck import Unsupported, compile_schema
from causely_incidentio.simulator.overlay import apply_overlay, load_overlay

SPEC_FILE = "incidentio-openapi.json"

_REF_PREFIX = "#/components/schemas/"
_DROP_KEYS = frozenset({"example", "examples", "x-public-api-version"})


@functools.cache
def load_spec() -> dict[str, Any]:
    """The whole spec, parsed once per process (about 30 ms)."""
    path = resources.files("causely_incidentio") / "data" / SPEC_FILE
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


def vendored_components() -> dict[str, Any]:
    """``components.schemas`` of the vendored spec, without the overlay."""
    schemas: dict[str, Any] = load_spec()["components"]["schemas"]
    return schemas


@functools.cache
def components() -> dict[str, Any]:
    """Every component schema as the live API has it: the vendored spec with the overlay applied."""
    return apply_overlay(vendored_components(), load_overlay())


def component(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = components()[name]
    return schema


def _inline(node: Any, stack: tuple[str, ...]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith(_REF_PREFIX):
                raise ValueError(f"unsupported $ref {ref!r}")
            name = ref[len(_REF_PREFIX):]
            if name in stack:
                raise ValueError(f"recursive schema {' -> '.join((*stack, name))} cannot be inlined")
            return _inline(component(name), (*stack, name))
        return {k: _inline(v, stack) for k, v in node.items() if k not in _DROP_KEYS}
    if isinstance(node, list):
        return [_inline(v, stack) for v in node]
    return node


def _forbid_unknown_properties(node: Any) -> None:
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for key, value in node.items():
            if key == "properties":
                for sub in value.values():
                    _forbid_unknown_properties(sub)
            else:
                _forbid_unknown_properties(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_unknown_properties(value)


@functools.cache
def resolved_schema(name: str, strict: bool = False) -> dict[str, Any]:
    """Component ``name`` with every ``$ref`` inlined; ``strict`` adds ``additionalProperties: false``."""
    schema: dict[str, Any] = _inline(component(name), (name,))
    if strict:
        schema = copy.deepcopy(schema)
        _forbid_unknown_properties(schema)
    return schema


_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def is_rfc3339(value: str) -> bool:
    """RFC 3339 date-time (what the spec's ``format: date-time`` means); jsonschema skips it by default."""
    match = _DATE_TIME.match(value)
    if match is None:
        return False
    try:
        datetime.strptime(f"{match[1]}T{match[2]}", "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    offset = match[4]
    return offset in "Zz" or (int(offset[1:3]) < 24 and int(offset[4:6]) < 60)


FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time")  # type: ignore[untyped-decorator]
def _check_date_time(value: object) -> bool:
    return not isinstance(value, str) or is_rfc3339(value)


def field_path(segments: Iterable[str | int], *, query: bool = False) -> str:
    """``["incident", "severity_id"]`` -> ``incident.severity_id``; query params use ``status[one_of]``."""
    text = ""
    for seg in segments:
        if isinstance(seg, int):
            text += f"[{seg}]"
        elif not text:
            text = seg
        else:
            text += f"[{seg}]" if query else f".{seg}"
    return text


_TYPE_WORDS = {"object": "an object", "array": "an array", "integer": "an integer", "boolean": "a boolean"}


def _field_errors(error: Any, *, query: bool) -> list[FieldError]:
    path = list(error.absolute_path)
    here = field_path(path, query=query)
    where = here or "request body"
    kind = error.validator
    if kind == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        return [
            FieldError("is_required", f"{field_path([*path, p], query=query)} is required",
                       field_path([*path, p], query=query))
            for p in error.validator_value
            if p not in instance
        ]
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        return [
            FieldError("unknown_field", f"{field_path([*path, k], query=query)} is not a field the API knows",
                       field_path([*path, k], query=query))
            for k in error.instance
            if k not in known
        ]
    if kind == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return [FieldError("invalid_value", f"{where} must be one of: {allowed}", here or None)]
    if kind == "type":
        expected = _TYPE_WORDS.get(str(error.validator_value), f"a {error.validator_value}")
        return [FieldError("invalid_type", f"{where} must be {expected}", here or None)]
    if kind == "format":
        return [FieldError("invalid_format", f"{where} must be an RFC 3339 {error.validator_value}",
                           here or None)]
    return [FieldError("invalid_value", f"{where}: {error.message}", here or None)]


def _collect(errors: Iterable[Any], *, query: bool) -> list[FieldError]:
    found: dict[tuple[str | None, str], FieldError] = {}
    for error in errors:
        for fe in _field_errors(error, query=query):
            found.setdefault((fe.field, fe.code), fe)
    return sorted(found.values(), key=lambda fe: (fe.field or "", fe.code))


class SchemaValidator:
    """A validator for one component schema, reporting incident.io-style field errors.

    Valid documents (nearly all of them) are answered by a compiled check (:mod:`fastcheck`); jsonschema
    runs only to describe what is wrong, or for a schema the compiled check does not support.
    """

    def __init__(self, name: str, schema: Mapping[str, Any]) -> None:
        self.name = name
        self._validator = jsonschema.Draft4Validator(schema, format_checker=FORMAT_CHECKER)
        try:
            self._fast: Callable[[Any], bool] | None = compile_schema(schema, {"date-time": is_rfc3339})
        except Unsupported:
            self._fast = None

    def is_valid(self, instance: object) -> bool:
        if self._fast is not None:
            return self._fast(instance)
        return bool(self._validator.is_valid(instance))

    def errors(self, instance: object) -> list[FieldError]:
        if self._fast is not None and self._fast(instance):
            return []
        return _collect(self._validator.iter_errors(instance), query=False)


@functools.cache
def validator(name: str, strict: bool = False) -> SchemaValidator:
    """The cached validator for component ``name`` (``strict``: unknown properties are errors)."""
    return SchemaValidator(name, resolved_schema(name, strict))


# ---------------------------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Operation:
    """What the spec says about one endpoint: its body schema, success status and response schema."""

    method: str
    path: str
    operation_id: str
    request_schema: str | None
    response_status: int
    response_schema: str
    parameters: tuple[dict[str, Any], ...]


def _schema_name(content_holder: Mapping[str, Any]) -> str | None:
    schema = content_holder.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref")
    return ref[len(_REF_PREFIX):] if isinstance(ref, str) else None


@functools.cache
def operation(method: str, path: str) -> Operation:
    """The spec's operation for ``METHOD path``, path templated as in the spec (``/v2/incidents/{id}``)."""
    op = load_spec()["paths"][path][method.lower()]
    request = _schema_name(op["requestBody"]) if "requestBody" in op else None
    status, response = next((int(code), r) for code, r in op["responses"].items() if code.startswith("2"))
    response_schema = _schema_name(response)
    if response_schema is None:
        raise ValueError(f"{method} {path}: no JSON response schema in the spec")
    return Operation(
        method=method.upper(),
        path=path,
        operation_id=op.get("operationId", ""),
        request_schema=request,
        response_status=status,
        response_schema=response_schema,
        parameters=tuple(p for p in op.get("parameters", ()) if p.get("in") == "query"),
    )


# --------------------------------------------------------------------------------------------- query params

_QUERY_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[[^\[\]]*\])*)$")
_INTEGER = re.compile(r"^-?\d+$")


def _depth(schema: Mapping[str, Any]) -> int:
    """How many ``[..]`` a deepObject parameter takes: ``status[one_of]`` is 1, ``custom_field[ID][op]`` 2."""
    depth = 0
    node: Mapping[str, Any] = schema
    while node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        depth += 1
        node = node["additionalProperties"]
    return depth


class QueryValidator:
    """Parses a query string the way the spec describes it (deepObject filters) and validates it.

    ``mode[one_of]=test&mode[one_of]=standard`` becomes ``{"mode": {"one_of": ["test", "standard"]}}``;
    integers are coerced. Error fields use the query spelling, e.g. ``status_category[one_of]``.
    """

    def __init__(self, parameters: Sequence[Mapping[str, Any]], *, strict: bool) -> None:
        self._params = {p["name"]: p for p in parameters}
        self._depths = {name: _depth(p["schema"]) for name, p in self._params.items()}
        self._strict = strict
        schema = {
            "type": "object",
            "properties": {name: _inline(p["schema"], ()) for name, p in self._params.items()},
        }
        self._validator = jsonschema.Draft4Validator(schema, format_checker=FORMAT_CHECKER)

    def parse(self, items: Iterable[tuple[str, str]]) -> tuple[dict[str, Any], list[FieldError]]:
        parsed: dict[str, Any] = {}
        problems: list[FieldError] = []
        for key, value in items:
            match = _QUERY_KEY.match(key)
            name = match[1] if match else key
            param = self._params.get(name)
            if match is None or param is None:
                if self._strict:
                    problems.append(FieldError("unknown_parameter", f"{key} is not a query parameter of "
                                               "this endpoint", key))
                continue
            keys = re.findall(r"\[([^\[\]]*)\]", match[2])
            depth = self._depths[name]
            if len(keys) != depth:
                shape = name + "".join("[..]" for _ in range(depth))
                problems.append(FieldError("invalid_parameter", f"{key} must be written as {shape}", name))
                continue
            if depth == 0:
                if value == "" and param.get("allowEmptyValue"):
                    continue
                if name in parsed:
                    problems.append(FieldError("invalid_parameter", f"{name} is given more than once", name))
                    continue
                is_int = param["schema"].get("type") == "integer" and _INTEGER.match(value)
                parsed[name] = int(value) if is_int else value
                continue
            node = parsed.setdefault(name, {})
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node.setdefault(keys[-1], []).append(value)
        problems.extend(_collect(self._validator.iter_errors(parsed), query=True))
        return parsed, problems


@functools.cache
def query_validator(method: str, path: str, strict: bool = False) -> QueryValidator:
    return QueryValidator(operation(method, path).parameters, strict=strict)
