"""incident.io's live schema, as far as it differs from the vendored (August 2026) spec, for the simulator.

incident.io changes its API schema continuously; the vendored spec is a fixed, checksummed copy of it.
Where the live schema has moved on for the endpoints the simulator serves (``IncidentV2`` now requires
``last_activity_at`` and ``team_ids``, for example), ``data/incidentio-live-overlay.json`` says how, and
the simulator validates against the spec *with* the overlay. The overlay records the version of
incident.io's official SDK it was derived from; the ``sdk`` test tier checks that the merged schemas are
exactly what that SDK's models demand (``tests/sdk/test_sdk_schema.py``), so it can neither drift nor
grow by hand.

Format: ``changed`` maps a vendored component to ``required`` (the full new list), ``properties`` (added
or replaced property schemas) and ``remove_properties``; ``added`` holds whole new components.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

OVERLAY_FILE = "incidentio-live-overlay.json"
_CHANGE_KEYS = frozenset({"required", "properties", "remove_properties"})
_REF_PREFIX = "#/components/schemas/"


@functools.cache
def load_overlay() -> dict[str, Any]:
    """The overlay file, parsed once per process."""
    path = resources.files("causely_incidentio") / "data" / OVERLAY_FILE
    overlay: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return overlay


def apply_overlay(components: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``components`` (the spec's ``components.schemas``) with ``overlay`` applied; neither is modified.

    Raises ValueError naming the entry when the overlay does not fit the spec: a changed component the spec
    lacks, an added one it already has, an unknown key, or a ``$ref`` to no component.
    """
    merged = dict(components)
    for name, change in overlay.get("changed", {}).items():
        where = f"{OVERLAY_FILE}: changed.{name}"
        if name not in components:
            raise ValueError(f"{where}: the vendored spec has no component {name!r} to change")
        if unknown := set(change) - _CHANGE_KEYS:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(_CHANGE_KEYS)})")
        schema = copy.deepcopy(components[name])
        properties = schema.setdefault("properties", {})
        for prop in change.get("remove_properties", []):
            if prop not in properties:
                raise ValueError(f"{where}.remove_properties: {name} has no property {prop!r}")
            del properties[prop]
        properties.update(copy.deepcopy(change.get("properties", {})))
        if "required" in change:
            if missing := [p for p in change["required"] if p not in properties]:
                raise ValueError(f"{where}.required: {missing} are not properties of {name}")
            schema["required"] = list(change["required"])
        merged[name] = schema
    for name, schema in overlay.get("added", {}).items():
        if name in components:
            raise ValueError(f"{OVERLAY_FILE}: added.{name}: the vendored spec already has {name!r}; "
                             "describe the difference under 'changed' instead")
        merged[name] = copy.deepcopy(schema)
    for name in (*overlay.get("changed", {}), *overlay.get("added", {})):
        for ref in _refs(merged[name]):
            if not ref.startswith(_REF_PREFIX) or ref[len(_REF_PREFIX):] not in merged:
                raise ValueError(f"{OVERLAY_FILE}: {name} refers to {ref!r}, which is no component")
    return merged


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            found += _refs(value)
        return found
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
