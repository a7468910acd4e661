"""What incident.io's official SDK says the API's schemas are, in a form comparable with the OpenAPI spec.

The SDK (PyPI ``incident-io``) is generated from incident.io's live schema: each component schema is an
attrs class whose fields not typed ``| Unset`` are the required properties, and whose type hints give each
property's type. :func:`sdk_view` turns such a class into ``{"properties": {...}, "required": [...]}``
with every property reduced to its *shape* (type, date-time format, enum values, items, ``$ref``);
:func:`spec_view` reduces a spec component the same way, so the two compare with ``==``.

Run as a script to print the overlay entries the SDK implies for the schemas the product uses
(``.venv/bin/python tests/sdk/sdk_schema.py``), e.g. after bumping the SDK pin.
"""

from __future__ import annotations

import datetime
import enum
import functools
import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import incident_io
import incident_io.models

from causely_incidentio.simulator import spec

REF = "#/components/schemas/"
TOKEN = "sdk-test-token-9d2e"
"""The API key the sdk tier's simulator accepts."""

# Every endpoint the product's client (causely_incidentio.incidentio.client) calls, plus the catalog "show"
# endpoints the simulator also serves.
PRODUCT_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("GET", "/v1/identity"),
    ("GET", "/v1/severities"),
    ("GET", "/v1/incident_types"),
    ("GET", "/v1/incident_statuses"),
    ("POST", "/v2/incidents"),
    ("GET", "/v2/incidents/{id}"),
    ("POST", "/v2/incidents/{id}/actions/edit"),
    ("GET", "/v2/incidents"),
)
SIMULATOR_ONLY_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("GET", "/v1/severities/{id}"),
    ("GET", "/v1/incident_types/{id}"),
    ("GET", "/v1/incident_statuses/{id}"),
)

_KEEP_FORMATS = frozenset({"date-time", "date"})
_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


# ------------------------------------------------------------------------------------------------ the SDK


def sdk_version() -> str:
    from importlib.metadata import version

    return version("incident-io")


@functools.cache
def _namespace() -> dict[str, Any]:
    return dict(vars(incident_io.models))


def sdk_model(name: str) -> type | None:
    """The SDK's attrs class for component ``name``, or None when the SDK has none."""
    found = getattr(incident_io.models, name, None)
    return found if isinstance(found, type) and attrs.has(found) else None


def _hints(model: type) -> dict[str, Any]:
    module = sys.modules[model.__module__]
    return typing.get_type_hints(model, globalns={**_namespace(), **vars(module)})


def _strip(hint: Any) -> tuple[Any, bool]:
    """``X | Unset | None`` -> (X, nullable)."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    kept = [a for a in args if a is not incident_io.types.Unset and a is not type(None)]
    nullable = type(None) in args
    if len(kept) != 1:
        raise TypeError(f"cannot describe a union of {kept}")
    return kept[0], nullable


def _hint_shape(hint: Any, known: frozenset[str]) -> dict[str, Any]:
    hint, nullable = _strip(hint)
    shape: dict[str, Any]
    origin = typing.get_origin(hint)
    if hint in _SCALARS:
        shape = {"type": _SCALARS[hint]}
    elif hint is datetime.datetime:
        shape = {"type": "string", "format": "date-time"}
    elif hint is datetime.date:
        shape = {"type": "string", "format": "date"}
    elif origin is list:
        shape = {"type": "array", "items": _hint_shape(typing.get_args(hint)[0], known)}
    elif origin is dict:
        value = typing.get_args(hint)[1]
        shape = {"type": "object"} if value is Any else {
            "type": "object", "additionalProperties": _hint_shape(value, known)}
    elif hint is Any:
        shape = {}
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = sorted(member.value for member in hint)
        kind = "integer" if all(isinstance(v, int) for v in values) else "string"
        shape = {"type": kind, "enum": values}
    elif isinstance(hint, type) and attrs.has(hint):
        shape = {"$ref": hint.__name__} if hint.__name__ in known else {"type": "object", **sdk_view(hint, known)}
    else:
        raise TypeError(f"cannot describe type {hint!r}")
    if nullable:
        shape["nullable"] = True
    return shape


@functools.cache
def json_names(model: type) -> dict[str, str]:
    """Attribute name -> JSON property name (``type_`` -> ``type``), read from the generated ``from_dict``.

    ``from_dict`` pops every JSON key once (``d.pop("type")``); each is paired with the attribute the
    generator derived from it (keywords get a trailing ``_``, other characters become ``_``).
    """
    fields = [f.name for f in attrs.fields(model) if f.name != "additional_properties"]
    keys = re.findall(r'd\.pop\(\s*"([^"]+)"', inspect.getsource(model.from_dict))  # type: ignore[attr-defined]
    by_attr = {re.sub(r"\W", "_", key): key for key in keys}
    names = {f: by_attr.get(f, by_attr.get(f.removesuffix("_"), "")) for f in fields}
    if len(keys) != len(fields) or "" in names.values():
        raise TypeError(f"{model.__name__}: cannot pair fields {fields} with JSON keys {keys}")
    return names


def sdk_view(model: type, known: frozenset[str]) -> dict[str, Any]:
    """``{"properties": {name: shape}, "required": [...]}`` for an SDK class; ``known``: component names."""
    hints = _hints(model)
    names = json_names(model)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(model):
        if field.name == "additional_properties":
            continue
        properties[names[field.name]] = _hint_shape(hints[field.name], known)
        # Optional properties are typed ``X | Unset``. Not "has no default": a required property with a
        # schema default (``page_size: int = 25``) gets an attrs default, yet from_dict still demands it.
        if incident_io.types.Unset not in typing.get_args(hints[field.name]):
            required.append(names[field.name])
    return {"properties": properties, "required": sorted(required)}


def sdk_descriptions(model: type) -> dict[str, str]:
    """Property descriptions from the class docstring's ``Attributes:`` section (best effort)."""
    doc = model.__doc__ or ""
    text = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    found: dict[str, str] = {}
    names = json_names(model)
    for match in re.finditer(r"^\s{8}(\w+) \([^)]*\): (.*(?:\n\s{12}.*)*)", text, re.MULTILINE):
        words = " ".join(match[2].split())
        found[names.get(match[1], match[1])] = re.sub(r"\s*Example: .*$", "", words)
    return found


# ------------------------------------------------------------------------------------------------ the spec


def _spec_shape(node: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return {"$ref": str(node["$ref"]).removeprefix(REF)}
    shape: dict[str, Any] = {}
    if "type" in node:
        shape["type"] = node["type"]
    if node.get("format") in _KEEP_FORMATS:
        shape["format"] = node["format"]
    if "enum" in node:
        shape["enum"] = sorted(node["enum"])
    if "items" in node:
        shape["items"] = _spec_shape(node["items"])
    if isinstance(node.get("additionalProperties"), Mapping):
        shape["additionalProperties"] = _spec_shape(node["additionalProperties"])
    if "properties" in node:
        shape.update(spec_view(node))
    if node.get("nullable"):
        shape["nullable"] = True
    return shape


def spec_view(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The same reduction as :func:`sdk_view`, for a spec object schema (``$ref``s not followed)."""
    properties = {name: _spec_shape(prop) for name, prop in schema.get("properties", {}).items()}
    return {"properties": properties, "required": sorted(schema.get("required", []))}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.removeprefix(REF)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def endpoint_schemas(endpoints: Iterable[tuple[str, str]]) -> list[str]:
    """Names of the request and response component schemas of ``endpoints``, and of all they reference.

    Followed through the *merged* components (vendored spec plus live overlay), so schemas the overlay adds
    are included.
    """
    todo: list[str] = []
    for method, path in endpoints:
        op = spec.operation(method, path)
        todo.append(op.response_schema)
        if op.request_schema:
            todo.append(op.request_schema)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(spec.component(name)))
    return sorted(seen)


def sdk_reachable(roots: Iterable[str]) -> list[str]:
    """Component names reachable from ``roots`` through the SDK's own classes (what the live schema uses)."""
    vendored = frozenset(spec.vendored_components())
    todo = list(roots)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        model = sdk_model(name)
        if name in seen or model is None:
            continue
        seen.add(name)
        todo.extend(_refs_in_view(sdk_view(model, _known_names(vendored))))
    return sorted(seen)


def _known_names(vendored: frozenset[str]) -> frozenset[str]:
    """Names an SDK class is referred to by: every class named like a component (``FooV2``) is one."""
    return frozenset(name for name in _namespace() if re.search(r"V\d+$", name)) | vendored


def _refs_in_view(view: Any) -> Iterator[str]:
    if isinstance(view, Mapping):
        ref = view.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in view.values():
            yield from _refs_in_view(value)
    elif isinstance(view, list):
        for value in view:
            yield from _refs_in_view(value)


# --------------------------------------------------------------------------------------------- the overlay


def _property_schema(shape: Mapping[str, Any], description: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in shape.items():
        if key == "$ref":
            return {"$ref": REF + value}
        if key == "items" or key == "additionalProperties":
            out[key] = _property_schema(value, None)
        elif key == "properties":
            out[key] = {k: _property_schema(v, None) for k, v in value.items()}
        elif key == "required":
            if value:
                out[key] = value
        else:
            out[key] = value
    if description:
        out["description"] = description
    return out


def derived_overlay(roots: Iterable[str]) -> dict[str, Any]:
    """The overlay entries that make the vendored spec agree with the SDK for everything under ``roots``."""
    vendored = spec.vendored_components()
    known = _known_names(frozenset(vendored))
    changed: dict[str, Any] = {}
    added: dict[str, Any] = {}
    for name in sdk_reachable(roots):
        model = sdk_model(name)
        assert model is not None
        live = sdk_view(model, known)
        notes = sdk_descriptions(model)
        if name not in vendored:
            added[name] = {
                "type": "object",
                "properties": {p: _property_schema(s, notes.get(p)) for p, s in live["properties"].items()},
                "required": live["required"],
            }
            continue
        old = spec_view(vendored[name])
        entry: dict[str, Any] = {}
        if live["required"] != old["required"]:
            entry["required"] = live["required"]
        props = {p: _property_schema(s, notes.get(p)) for p, s in live["properties"].items()
                 if old["properties"].get(p) != s}
        if props:
            entry["properties"] = props
        gone = sorted(set(old["properties"]) - set(live["properties"]))
        if gone:
            entry["remove_properties"] = gone
        if entry:
            changed[name] = entry
    return {"changed": changed, "added": added}


ERROR_SCHEMA = "ErrorResponse"
"""Every error status of these endpoints answers with this body in the live schema (the vendored spec
documents no error bodies at all)."""


def product_roots() -> list[str]:
    """The request, response and error schemas of every endpoint the simulator serves."""
    roots: list[str] = [ERROR_SCHEMA]
    for method, path in PRODUCT_ENDPOINTS + SIMULATOR_ONLY_ENDPOINTS:
        op = spec.operation(method, path)
        roots.append(op.response_schema)
        if op.request_schema:
            roots.append(op.request_schema)
    return roots


if __name__ == "__main__":
    print(f"# derived from incident-io=={sdk_version()}", file=sys.stderr)
    json.dump(derived_overlay(product_roots()), sys.stdout, indent=2, sort_keys=True)
    print()
