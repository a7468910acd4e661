"""Causely notification payloads: tolerant models and a parser with precise errors.

Causely adds fields over time and its oldest format sends ``description`` as a plain string, so the models
keep unknown fields and normalise the legacy shapes instead of rejecting them. Only the fields the pipeline
cannot work without (``type``, ``objectId``, ``name``, ``severity``) are required; each problem is reported
with the field named as Causely spells it, so a sender can fix its payload from the error alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from causely_incidentio.problems import InvalidInput, Problem
from causely_incidentio.severities import ALLOWED_SEVERITIES, CauselySeverity
from causely_incidentio.severities import parse as parse_severity

NAMESPACE_LABELS = ("causely.ai/namespace", "k8s.namespace.name")
"""Label keys that name a finding's namespace, in order of preference."""
CLUSTER_LABELS = ("k8s.cluster.name", "causely.ai/cluster")
"""Label keys that name a finding's cluster, in order of preference."""
SERVICE_LABEL = "causely.ai/service-name"


class PayloadSyntaxError(ValueError):
    """The body is not JSON at all (HTTP 400), as opposed to JSON with bad fields (InvalidInput, HTTP 422)."""


class NotificationType(StrEnum):
    """What happened to the root cause."""

    DETECTED = "ProblemDetected"
    UPDATED = "ProblemUpdated"
    CLEARED = "ProblemCleared"


class Entity(BaseModel):
    """The root-cause entity (or an SLO's entity); every field is optional in practice."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True, frozen=True)

    id: str | None = None
    name: str | None = None
    type: str | None = None
    link: str | None = None


class RemediationOption(BaseModel):
    """One suggested fix."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True, frozen=True)

    title: str | None = None
    description: str | None = None


class Description(BaseModel):
    """What the problem is; any part may be missing."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True, frozen=True)

    summary: str | None = None
    details: str | None = None
    remediation_options: list[RemediationOption] = Field(default_factory=list, alias="remediationOptions")

    @field_validator("remediation_options", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class SLO(BaseModel):
    """An impacted service-level objective."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True, frozen=True)

    status: str | None = None
    slo_entity: Entity | None = None
    related_entity: Entity | None = None


_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:\d{2})?$"
)


def parse_timestamp(text: str) -> tuple[datetime, int]:
    """Parse RFC 3339 keeping nanoseconds: ``(aware datetime, nanoseconds since the epoch)``.

    Python's datetime stops at microseconds, and Causely sends nanoseconds; two events of one problem can
    fall in the same microsecond, so ordering uses the integer. A missing offset is read as UTC.
    """
    match = _RFC3339.match(text.strip())
    if match is None:
        raise ValueError("not an RFC 3339 timestamp")
    tz = match["tz"] or "Z"
    offset = "+00:00" if tz in ("Z", "z") else tz
    whole = datetime.fromisoformat(f"{match['date']}T{match['time']}{offset}")
    frac = (match["frac"] or "")[:9].ljust(9, "0")
    nanos = int(frac)
    seconds = int(whole.timestamp())
    moment = (whole + timedelta(microseconds=nanos // 1000)).astimezone(UTC)
    return moment, seconds * 1_000_000_000 + nanos


def format_timestamp_ns(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, Causely's own format (trailing zeros trimmed)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{nanos:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def _label_text(value: Any) -> str | None:
    """Labels are string maps in Causely; coerce stray JSON types rather than reject the finding."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


class Notification(BaseModel):
    """One Causely notification. Unknown fields are kept, so ``model_dump(by_alias=True)`` round-trips."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True, frozen=True)

    type: NotificationType
    object_id: str = Field(alias="objectId")
    name: str
    custom_name: str | None = Field(None, alias="customName")
    severity: CauselySeverity
    old_severity: CauselySeverity | None = None
    entity: Entity | None = None
    description: Description = Field(default_factory=Description)
    labels: dict[str, str] = Field(default_factory=dict)
    link: str | None = None
    timestamp: datetime | None = None
    timestamp_ns: int | None = Field(None, exclude=True)
    slos: list[SLO] = Field(default_factory=list)
    duration_ns: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _nanosecond_timestamp(cls, data: Any) -> Any:
        """Compute ``timestamp_ns`` from the raw text before pydantic rounds it to microseconds.

        A malformed timestamp is left alone here so the field validator reports it next to the other
        problems of the same payload.
        """
        if not isinstance(data, Mapping):
            return data
        raw = data.get("timestamp")
        if isinstance(raw, str):
            try:
                moment, ns = parse_timestamp(raw)
            except ValueError:
                return data
            data = {**data, "timestamp": moment, "timestamp_ns": ns}
        return data

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_timestamp(value)[0]
            except ValueError:
                raise PydanticCustomError("timestamp", "not an RFC 3339 timestamp") from None
        return value

    @model_validator(mode="after")
    def _derive_ns(self) -> Notification:
        if self.timestamp is not None and self.timestamp_ns is None:
            ts = self.timestamp if self.timestamp.tzinfo else self.timestamp.replace(tzinfo=UTC)
            delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
            ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
            object.__setattr__(self, "timestamp_ns", ns)
        return self

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> Any:
        if isinstance(value, NotificationType):
            return value
        if isinstance(value, str):
            for member in NotificationType:
                if member.value.lower() == value.strip().lower():
                    return member
        raise PydanticCustomError("notification_type", "unknown notification type")

    @field_validator("object_id", "name", mode="before")
    @classmethod
    def _non_empty(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise PydanticCustomError("empty", "must not be empty")
        return value

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Any:
        if isinstance(value, CauselySeverity):
            return value
        try:
            return parse_severity(value)
        except ValueError:
            raise PydanticCustomError("severity", "unknown severity") from None

    @field_validator("old_severity", mode="before")
    @classmethod
    def _old_severity(cls, value: Any) -> Any:
        """Informational only: a bad previous severity must not cost us the notification."""
        if value is None or isinstance(value, CauselySeverity):
            return value
        try:
            return parse_severity(value)
        except ValueError:
            return None

    @field_validator("description", mode="before")
    @classmethod
    def _legacy_description(cls, value: Any) -> Any:
        if value is None:
            return Description()
        if isinstance(value, str):
            return Description(summary=value)
        return value

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, Mapping):
            out: dict[str, str] = {}
            for key, item in value.items():
                text = _label_text(item)
                if text is not None:
                    out[str(key)] = text
            return out
        return value

    @field_validator("slos", mode="before")
    @classmethod
    def _null_slos(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_serializer("timestamp")
    def _serialize_timestamp(self, value: datetime | None) -> str | None:
        if self.timestamp_ns is not None:
            return format_timestamp_ns(self.timestamp_ns)
        return None if value is None else value.isoformat()

    @property
    def title(self) -> str:
        """The human title: Causely's custom name when set, else the problem name."""
        if self.custom_name and self.custom_name.strip():
            return self.custom_name
        return self.name

    @property
    def impacts_slo(self) -> bool:
        return bool(self.slos)

    @property
    def namespace(self) -> str | None:
        return _first_label(self.labels, NAMESPACE_LABELS)

    @property
    def cluster(self) -> str | None:
        return _first_label(self.labels, CLUSTER_LABELS)

    @property
    def service(self) -> str | None:
        return _first_label(self.labels, (SERVICE_LABEL,))


def _first_label(labels: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = labels.get(key)
        if value:
            return value
    return None


# What each field allows, as told to the sender in a Problem.
_EXPECTED: dict[str, str] = {
    "type": "one of " + ", ".join(t.value for t in NotificationType),
    "objectId": "a non-empty string (the root cause id)",
    "name": "a non-empty string (the problem name)",
    "severity": f"one of {ALLOWED_SEVERITIES}",
    "timestamp": "an RFC 3339 timestamp such as 2025-08-07T18:51:54.164185287Z",
    "duration_ns": "an integer number of nanoseconds",
    "labels": "an object of string values",
    "slos": "a list of SLO objects",
    "description": "an object with summary, details, remediationOptions (or a string)",
}


# Fallback expectations by pydantic error type, for fields without an entry above.
_EXPECTED_BY_TYPE: dict[str, str] = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
}


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text or "(body)"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _problems(error: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        where = _where(loc)
        if where in seen:  # unions report one error per branch; the first one says enough
            continue
        seen.add(where)
        if item["type"] == "missing":
            what = "is required but missing"
        elif item["type"] in ("notification_type", "severity", "empty", "timestamp"):
            what = f"{item['msg']}: {_shown(item.get('input'))}" if item["type"] != "empty" else item["msg"]
        else:
            what = f"{item['msg'][:1].lower()}{item['msg'][1:]}, got {_shown(item.get('input'))}"
        problems.append(Problem(where, what, _EXPECTED.get(where) or _EXPECTED_BY_TYPE.get(item["type"])))
    return problems


def parse_notification(data: bytes | str | Mapping[str, Any]) -> Notification:
    """Parse a notification body; PayloadSyntaxError for non-JSON, InvalidInput listing every bad field."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PayloadSyntaxError(f"body is not UTF-8 (byte {exc.start})") from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise PayloadSyntaxError(
                f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
    if not isinstance(data, Mapping):
        raise InvalidInput(
            "notification",
            [Problem("(body)", f"is a JSON {_json_kind(data)}", "a JSON object (one Causely notification)")],
        )
    try:
        return Notification.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInput("notification", _problems(exc)) from None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__
