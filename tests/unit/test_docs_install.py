"""docs/install.md's values table is values.yaml: every value, its default, a description; nothing else.

A plain file check (no helm), so it stays in the fast tier.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "charts" / "causely-incidentio" / "values.yaml"
INSTALL = ROOT / "docs" / "install.md"
ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| `(?P<default>[^`]*)` \| (?P<what>.*) \|$")


def leaves(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted path -> default; an empty map or any list is one value."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def table() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in INSTALL.read_text().splitlines():
        match = ROW.match(line)
        if match:
            assert match["key"] not in rows, f"{match['key']} twice in docs/install.md"
            rows[match["key"]] = (match["default"], match["what"].strip())
    return rows


def test_every_value_is_documented_with_its_default() -> None:
    values = leaves(yaml.safe_load(VALUES.read_text()))
    rows = table()
    assert sorted(rows) == sorted(values), "docs/install.md's values table and values.yaml list different values"
    for key, value in values.items():
        default, what = rows[key]
        assert json.loads(default) == value, f"{key}: docs/install.md says {default}, values.yaml {value!r}"
        assert what, f"{key} has no description in docs/install.md"


def test_the_table_follows_values_yaml_order() -> None:
    assert list(table()) == list(leaves(yaml.safe_load(VALUES.read_text())))
