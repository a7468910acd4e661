"""The precedence table in docs/configuration.md, checked against the code row by row.

The table is parsed from the document (names and defaults come from there, not from this file), so a
change to either the doc or the builders that makes them disagree fails here. This file holds only sample
values per setting: one the destination sets, and a different one the environment sets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from domain_fixtures import SECRET_TOKEN

from causely_incidentio.destinations import (
    API_VERSION,
    SECRET_KEYS,
    SPEC_FIELDS,
    DestinationConfig,
    from_env,
    from_resource,
    from_secret,
)
from causely_incidentio.settings import Settings

DOC = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text(encoding="utf-8")
ALLOWED = "https://api.incident.io,https://cr.example,https://secret.example,https://env.example"


@dataclass(frozen=True)
class Row:
    setting: str
    field: str | None
    key: str | None
    env: str | None
    default: Any  # None: "none" (the attribute is empty); a JSON value otherwise
    secret_default: Any


def _name(cell: str) -> str | None:
    """The cell's leading `name`, or None for "—" (there is no such source)."""
    found = re.match(r"\s*`([^`]+)`", cell)
    return found.group(1) if found else None


def _value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_table() -> list[Row]:
    section = DOC.split("<!-- precedence-table -->", 1)[1].strip().splitlines()
    rows: list[Row] = []
    for line in section[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        setting, field, key, env, default = cells
        secret_default = re.search(r"Secret: `([^`]+)`", default)
        rows.append(Row(setting, _name(field), _name(key), _name(env), _value(_name(default)),
                        _value(secret_default.group(1)) if secret_default else _value(_name(default))))
    return rows


ROWS = parse_table()


@dataclass(frozen=True)
class Sample:
    """What a destination writes (in a resource, in a Secret) and what the environment says instead."""

    read: Callable[[DestinationConfig, Settings], Any]
    spec: Any
    secret: str
    env: str | None = None
    expect: Any = None  # what ``spec``/``secret`` read back as
    expect_env: Any = None


SAMPLES: dict[str, Sample] = {
    "incident.io API URL": Sample(lambda c, s: c.api_url or s.incident_io_api_url, "https://cr.example",
                                  "https://cr.example", "https://env.example", "https://cr.example",
                                  "https://env.example"),
    "incident type": Sample(lambda c, s: c.incident_type_id, "CRTYPE", "CRTYPE", "ENVTYPE", "CRTYPE", "ENVTYPE"),
    "fixed severity": Sample(lambda c, s: c.severity_id, "CRSEV", "CRSEV", "ENVSEV", "CRSEV", "ENVSEV"),
    "severity map": Sample(lambda c, s: c.severity_map, {"High": "Major"}, '{"High": "Major"}', None,
                           {"High": "Major"}),
    "severity rule": Sample(lambda c, s: c.severity_rule, "Critical", "critical", "mapped", "Critical", "Mapped"),
    "minimum severity": Sample(lambda c, s: c.min_severity.value, "Critical", "critical", "low", "Critical",
                               "Low"),
    "resolved status": Sample(lambda c, s: c.resolved_status_name, "Fixed", "Fixed", "Closed", "Fixed", "Closed"),
    "notify channel": Sample(lambda c, s: c.notify_channel, False, "false", "true", False, True),
    "filters": Sample(lambda c, s: [r.value for r in c.filters.rules],
                      [{"field": "name", "operator": "Equals", "value": "x"}],
                      '[{"field": "name", "operator": "equals", "value": "x"}]', None, ["x"]),
    "filters enabled": Sample(lambda c, s: c.filters.enabled, False, "true", None, False),
    "mode": Sample(lambda c, s: c.mode, "Standard", "standard", "test", "standard", "test"),
    "visibility": Sample(lambda c, s: c.visibility, "Public", "public", "private", "public", "private"),
    "global": Sample(lambda c, s: c.global_, True, "true", None, True),
}
SECRET_EXPECT = {"filters enabled": True}  # the Secret sample says "true" where the resource says false


def settings_with(row: Row, value: str | None) -> Settings:
    env = {"INCIDENT_IO_ALLOWED_API_URLS": ALLOWED}
    if row.env and value is not None:
        env[row.env] = value
    return Settings.from_env(env)


def resource(row: Row, value: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"tokenSecretRef": {"name": "t"}}
    if row.field and value is not None:
        spec[row.field] = value
    return {"apiVersion": API_VERSION, "kind": "IncidentDestination",
            "metadata": {"name": "d", "namespace": "causely"}, "spec": spec}


def secret(row: Row, value: str | None = None) -> dict[str, Any]:
    data = {"notif_config_type": "IncidentIO", "notif_config_name": "n", "notif_config_token": SECRET_TOKEN}
    if row.key and value is not None:
        data[row.key] = value
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "causely", "labels": {"causely.ai/notif-config": "IncidentIO"}},
            "stringData": data}


def from_cr(doc: dict[str, Any], settings: Settings) -> DestinationConfig:
    return from_resource(doc, secret_lookup=lambda ns, n, k: SECRET_TOKEN, settings=settings)


def check_default(row: Row, expected: Any, actual: Any) -> None:
    if expected is None:
        assert not actual, f"{row.setting}: documented as none, code gives {actual!r}"
    elif isinstance(expected, str) and isinstance(actual, str):
        assert actual.lower() == expected.lower(), row.setting
    else:
        assert actual == expected, row.setting


def test_the_table_covers_every_field_key_and_variable() -> None:
    assert {r.field for r in ROWS} == set(SPEC_FIELDS)
    assert {r.key for r in ROWS} == set(SECRET_KEYS) - {"notif_config_name", "notif_config_type"}
    assert {r.env for r in ROWS if r.env} <= {n.upper() for n in Settings.model_fields}
    assert {r.setting for r in ROWS} - {"API key"} == set(SAMPLES)


@pytest.mark.parametrize("row", [r for r in ROWS if r.setting in SAMPLES], ids=lambda r: r.setting)
class TestRow:
    def test_resource_field_beats_environment(self, row: Row) -> None:
        sample = SAMPLES[row.setting]
        config = from_cr(resource(row, sample.spec), settings_with(row, sample.env))
        assert sample.read(config, settings_with(row, sample.env)) == sample.expect

    def test_secret_key_beats_environment(self, row: Row) -> None:
        sample = SAMPLES[row.setting]
        settings = settings_with(row, sample.env)
        config = from_secret(secret(row, sample.secret), settings)
        assert sample.read(config, settings) == SECRET_EXPECT.get(row.setting, sample.expect)

    def test_built_in_default(self, row: Row) -> None:
        sample = SAMPLES[row.setting]
        settings = settings_with(row, None)
        check_default(row, row.default, sample.read(from_cr(resource(row), settings), settings))
        check_default(row, row.secret_default, sample.read(from_secret(secret(row), settings), settings))


WITH_ENV = [r for r in ROWS if r.setting in SAMPLES and r.env is not None]


@pytest.mark.parametrize("row", WITH_ENV, ids=lambda r: r.setting)
class TestRowWithEnvironment:
    def test_environment_fills_what_the_destination_leaves_unset(self, row: Row) -> None:
        sample = SAMPLES[row.setting]
        settings = settings_with(row, sample.env)
        assert sample.read(from_cr(resource(row), settings), settings) == sample.expect_env
        assert sample.read(from_secret(secret(row), settings), settings) == sample.expect_env
        env_settings = settings.model_copy(update={"incident_io_api_token": "env-token"})
        env_config = from_env(env_settings)
        assert env_config is not None and sample.read(env_config, env_settings) == sample.expect_env


WITHOUT_ENV = [r for r in ROWS if r.setting in SAMPLES and r.env is None]


@pytest.mark.parametrize("row", WITHOUT_ENV, ids=lambda r: r.setting)
class TestRowWithoutEnvironment:
    def test_no_source_the_table_leaves_out_changes_it(self, row: Row) -> None:
        """A setting whose environment column is "—" ignores every INCIDENT_IO_* variable."""
        sample = SAMPLES[row.setting]
        everything = Settings.from_env({
            "INCIDENT_IO_ALLOWED_API_URLS": ALLOWED, "INCIDENT_IO_INCIDENT_TYPE_ID": "x",
            "INCIDENT_IO_MIN_SEVERITY": "Low", "INCIDENT_IO_MODE": "test", "INCIDENT_IO_VISIBILITY": "private",
            "INCIDENT_IO_NOTIFY_CHANNEL": "true", "INCIDENT_IO_RESOLVED_STATUS_NAME": "Closed",
            "INCIDENT_IO_SEVERITY_RULE": "Mapped",
        })
        check_default(row, row.default, sample.read(from_cr(resource(row), everything), everything))
