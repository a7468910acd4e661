"""Fixtures for the pure domain tests."""

from __future__ import annotations

from typing import Any

import pytest
from domain_fixtures import secret_with_token


@pytest.fixture
def base_secret() -> dict[str, Any]:
    """The published incident.io Secret with a distinctive token (a fresh copy per test)."""
    return secret_with_token()
