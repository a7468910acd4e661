"""Helpers for the pure domain tests: the published payloads and Secrets in tests/fixtures."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PAYLOADS = FIXTURES / "payloads"
SECRETS = FIXTURES / "secrets"
PAYLOAD_NAMES = sorted(p.stem for p in PAYLOADS.glob("*.json"))
VALID_PAYLOAD_NAMES = [n for n in PAYLOAD_NAMES if n != "legacy-string-description"]

# A distinctive token: tests assert it never shows up in any text the code produces.
SECRET_TOKEN = "inc_live_ZZtopSECRET-7f3a9c1e-do-not-leak"


def payload_dict(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def secret_doc(name: str = "incidentio-notification-config") -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((SECRETS / f"{name}.yaml").read_text(encoding="utf-8"))
    return doc


def secret_with_token() -> dict[str, Any]:
    """The published incident.io Secret with a distinctive token."""
    doc = copy.deepcopy(secret_doc())
    doc["stringData"]["notif_config_token"] = SECRET_TOKEN
    return doc
