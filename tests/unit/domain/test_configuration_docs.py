"""docs/configuration.md covers every Secret key, resource field and environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from causely_incidentio.destinations import SECRET_KEYS, SPEC_FIELDS
from causely_incidentio.settings import Settings

DOC = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_key_documented(key: str) -> None:
    assert f"| `{key}` |" in DOC


@pytest.mark.parametrize("field", SPEC_FIELDS)
def test_resource_field_documented(field: str) -> None:
    assert f"| `{field}" in DOC


@pytest.mark.parametrize("name", [n.upper() for n in Settings.model_fields])
def test_environment_variable_documented(name: str) -> None:
    assert f"| `{name}` |" in DOC
