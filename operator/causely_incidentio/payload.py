"""Causely notification payloads: tolerant models and a parser with precise errors.

Causely adds fields over time and its oldest format sends ``description`` as a plain string, so the models
keep unknown fields and normalise the legacy shapes instead of rejecting them. Only the fields the pipeline
cannot work without (``type``, ``objectId``, ``name``, ``severity``) are required; each problem is reported
with the field named as Causely spells it, so a sender can fix its payload from the error alone.

Intake limits (docs/lifecycle.md, "Intake limits"): what is accepted must be deliverable, so text that cannot
be encoded as UTF-8, timestamps outside what a signed 64-bit count of nanoseconds holds, and documents nested
deeper than :data:`MAX_NESTING` are refused here (422), and the remediation and SLO lists are cut to
:data:`MAX_LIST_ITEMS` (the summary says how many more there are), so no later step can fail or stall on them.
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
    ModelWrapValidatorHandler,
    PrivateAttr,
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

MAX_LIST_ITEMS = 1000
"""Remediation options and impacted SLOs kept per notification; the rest are counted, not parsed.

The summary (16 KiB) can never show more than a few hundred bullets, so this changes no real summary, and
it bounds the work a single notification can cause."""
MAX_NESTING = 32
"""Deepest nesting of objects and arrays accepted. Causely's own documents are 4 levels deep; deeper ones
could exhaust the interpreter's recursion limit in any later step that walks them (JSON encoding, logging)."""
MAX_PROBLEMS = 20
"""Problems listed in one 422; a body full of bad text must not make the answer as large as the body."""
MIN_TIMESTAMP_NS = -(2**63) + 808
"""1677-09-21T00:12:43.145225Z: the earliest whole microsecond a signed 64-bit count of nanoseconds holds.

Whole microseconds, so a timestamp and its microsecond ``datetime`` are both in range or both out of it."""
MAX_TIMESTAMP_NS = 2**63 - 1 - 807
"""2262-04-11T23:47:16.854775Z: the journal stores timestamps as SQLite (int64) nanoseconds."""
TIMESTAMP_RANGE = "between 1677-09-21T00:12:43.145225Z and 2262-04-11T23:47:16.854775Z"
_OUT_OF_RANGE = "outside the range the journal can hold (64-bit nanoseconds)"


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
    _omitted_options: int = PrivateAttr(0)

    @model_validator(mode="wrap")
    @classmethod
    def _cap_options(cls, data: Any, handler: ModelWrapValidatorHandler[Description]) -> Description:
        data, omitted = _cap_list(data, ("remediationOptions", "remediation_options"))
        model = handler(data)
        if omitted:
            model._omitted_options = omitted
        return model

    @field_validator("remediation_options", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def omitted_remediation_options(self) -> int:
        """Options beyond :data:`MAX_LIST_ITEMS` that were counted but not kept."""
        return self._omitted_options


class SLO(BaseModel):
    """An impacted service-level objective."""

    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True, frozen=True)

    status: str | None = None
    slo_entity: Entity | None = None
    related_entity: Entity | None = None


def _cap_list(data: Any, keys: tuple[str, ...]) -> tuple[Any, int]:
    """Cut the list under any of ``keys`` to :data:`MAX_LIST_ITEMS`; returns the data and how many were cut."""
    if not isinstance(data, Mapping):
        return data, 0
    omitted = 0
    for key in keys:
        value = data.get(key)
        if isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
            omitted = max(omitted, len(value) - MAX_LIST_ITEMS)
            data = {**data, key: value[:MAX_LIST_ITEMS]}
    return data, omitted


_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:\d{2})?$"
)


def parse_timestamp(text: str) -> tuple[datetime, int]:
    """Parse RFC 3339 keeping nanoseconds: ``(aware datetime, nanoseconds since the epoch)``.

    Python's datetime stops at microseconds, and Causely sends nanoseconds; two events of one problem can
    fall in the same microsecond, so ordering uses the integer. A missing offset is read as UTC.
    :class:`TimestampRangeError` (a ValueError) for an instant the journal cannot store.
    """
    match = _RFC3339.match(text.strip())
    if match is None:
        raise ValueError("not an RFC 3339 timestamp")
    tz = match["tz"] or "Z"
    offset = "+00:00" if tz in ("Z", "z") else tz
    frac = (match["frac"] or "")[:9].ljust(9, "0")
    nanos = int(frac)
    try:
        whole = datetime.fromisoformat(f"{match['date']}T{match['time']}{offset}")
        seconds = int(whole.timestamp())
        moment = (whole + timedelta(microseconds=nanos // 1000)).astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise TimestampRangeError(_OUT_OF_RANGE) from None
    ns = seconds * 1_000_000_000 + nanos
    if not MIN_TIMESTAMP_NS <= ns <= MAX_TIMESTAMP_NS:
        raise TimestampRangeError(_OUT_OF_RANGE)
    return moment, ns


class TimestampRangeError(ValueError):
    """A well-formed timestamp outside what the journal (int64 nanoseconds) can hold."""


def _datetime_ns(value: datetime) -> int:
    """Nanoseconds since the epoch of an aware or naive (read as UTC) datetime."""
    ts = value if value.tzinfo else value.replace(tzinfo=UTC)
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


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
    _omitted_slos: int = PrivateAttr(0)

    @model_validator(mode="wrap")
    @classmethod
    def _cap_slos(cls, data: Any, handler: ModelWrapValidatorHandler[Notification]) -> Notification:
        data, omitted = _cap_list(data, ("slos",))
        model = handler(data)
        if omitted:
            model._omitted_slos = omitted
        return model

    @model_validator(mode="before")
    @classmethod
    def _nanosecond_timestamp(cls, data: Any) -> Any:
        """Compute ``timestamp_ns`` from the raw text before pydantic rounds it to microseconds.

        Only this validator sets ``timestamp_ns``: a sender's own ``timestamp_ns`` is dropped, or it could
        reorder a finding's history at will. A malformed or out-of-range timestamp is left alone here so the
        field validator reports it next to the other problems of the same payload.
        """
        if not isinstance(data, Mapping):
            return data
        data = {k: v for k, v in data.items() if k != "timestamp_ns"}
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
            except TimestampRangeError as exc:
                raise PydanticCustomError("timestamp_range", str(exc)) from None
            except ValueError:
                raise PydanticCustomError("timestamp", "not an RFC 3339 timestamp") from None
        return value

    @field_validator("timestamp", mode="after")
    @classmethod
    def _timestamp_in_range(cls, value: datetime | None) -> datetime | None:
        """Also for a datetime given directly, or a number pydantic read as Unix time."""
        if value is not None and not MIN_TIMESTAMP_NS <= _datetime_ns(value) <= MAX_TIMESTAMP_NS:
            raise PydanticCustomError("timestamp_range", _OUT_OF_RANGE)
        return value

    @model_validator(mode="after")
    def _derive_ns(self) -> Notification:
        if self.timestamp is not None and self.timestamp_ns is None:
            object.__setattr__(self, "timestamp_ns", _datetime_ns(self.timestamp))
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

    @field_validator("object_id", mode="before")
    @classmethod
    def _object_id_length(cls, value: Any) -> Any:
        """The id names a journal key, a Finding and an idempotency key: a bounded size keeps them bounded."""
        if isinstance(value, str) and len(value) > MAX_OBJECT_ID_CHARS:
            raise PydanticCustomError("too_long", f"is {len(value)} characters long; at most {MAX_OBJECT_ID_CHARS}")
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
    def omitted_slos(self) -> int:
        """Impacted SLOs beyond :data:`MAX_LIST_ITEMS` that were counted but not kept."""
        return self._omitted_slos

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


MAX_OBJECT_ID_CHARS = 256  # Causely's ids are UUIDs (36 characters)


# What each field allows, as told to the sender in a Problem.
_EXPECTED: dict[str, str] = {
    "type": "one of " + ", ".join(t.value for t in NotificationType),
    "objectId": f"a non-empty string of at most {MAX_OBJECT_ID_CHARS} characters (the root cause id)",
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
        else:  # a key is sender text: escape what cannot be encoded, so the answer and any log can be
            text += ("." if text else "") + part.encode("utf-8", "backslashreplace").decode("utf-8")
    return text or "(body)"


def _shown(value: Any) -> str:
    text = _safe_repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _safe_repr(value: Any) -> str:
    """``repr`` that cannot fail: a huge or deeply nested input is described, not rendered."""
    if isinstance(value, list | dict) and len(value) > 20:
        return f"<{_json_kind(value)} of {len(value)} items>"
    try:
        return repr(value)
    except (ValueError, RecursionError):  # an int over the digit limit, a nesting too deep for repr
        return f"<{_json_kind(value)}>"


def _problems(error: ValidationError, seen: set[str] | None = None) -> list[Problem]:
    problems: list[Problem] = []
    seen = set() if seen is None else seen
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        where = _where(loc)
        if where in seen:  # unions report one error per branch; the first one says enough
            continue
        seen.add(where)
        if item["type"] == "missing":
            what = "is required but missing"
        elif item["type"] in ("empty", "too_long"):
            what = item["msg"]
        elif item["type"] in ("notification_type", "severity", "timestamp", "timestamp_range"):
            what = f"{item['msg']}: {_shown(item.get('input'))}"
        else:
            what = f"{item['msg'][:1].lower()}{item['msg'][1:]}, got {_shown(item.get('input'))}"
        expected = _EXPECTED.get(where) or _EXPECTED_BY_TYPE.get(item["type"])
        if item["type"] == "timestamp_range":
            expected = f"an RFC 3339 timestamp {TIMESTAMP_RANGE}"
        problems.append(Problem(where, what, expected))
    return problems


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F]")


def _may_need_walk(text: str, document: Any) -> bool:
    """Cheap screen of a parsed body: False when it has no surrogate and is shallow enough.

    Text decoded from UTF-8 can only carry a surrogate as a ``\\uD800``-style escape (a ``str`` given
    directly is checked whole), and nesting can only be deep if the text has enough brackets; only then
    are the containers (not every value) walked. Most bodies skip the per-value walk of
    :func:`_intake_problems` entirely.
    """
    if not _encodable(text) or _SURROGATE_ESCAPE.search(text):
        return True
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return False
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if depth >= MAX_NESTING:
            return True
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, dict | list):
                stack.append((item, depth + 1))
    return False


def _intake_problems(document: Mapping[str, Any]) -> tuple[list[Problem], bool]:
    """Text that cannot be encoded as UTF-8 and nesting beyond :data:`MAX_NESTING`, anywhere in the body.

    JSON may carry lone UTF-16 surrogates (``"\\ud800"``), which no UTF-8 encoder, SQLite or HTTP client
    accepts: such a notification would be journaled, then fail on every delivery attempt. Iterative, so
    the walk itself cannot exhaust the recursion limit. The flag says the document is too deep to validate.
    """
    problems: list[Problem] = []
    too_deep = False
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), document)]
    while stack and len(problems) < MAX_PROBLEMS:
        loc, value = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                problems.append(Problem(_where(loc), "contains text that cannot be encoded as UTF-8 "
                                        "(a lone UTF-16 surrogate such as \\ud800)", "valid Unicode text"))
            continue
        if not isinstance(value, Mapping | list):
            continue
        if len(loc) >= MAX_NESTING:
            too_deep = True
            problems.append(Problem(_where(loc), f"is nested more than {MAX_NESTING} levels deep",
                                    f"at most {MAX_NESTING} levels of objects and arrays"))
            continue
        if isinstance(value, list):
            stack.extend(((*loc, i), item) for i, item in reversed(list(enumerate(value))))
            continue
        for key, item in reversed(list(value.items())):
            key_text = str(key)
            if not _encodable(key_text):
                problems.append(Problem(_where((*loc, key_text)), "is a key that cannot be encoded as UTF-8 "
                                        "(a lone UTF-16 surrogate such as \\ud800)", "valid Unicode text"))
            stack.append(((*loc, key_text), item))
    return problems[:MAX_PROBLEMS], too_deep


def parse_notification(data: bytes | str | Mapping[str, Any]) -> Notification:
    """Parse a notification body; PayloadSyntaxError for non-JSON, InvalidInput listing every bad field.

    Never raises anything else for any input: the receiver answers from these two alone.
    """
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PayloadSyntaxError(f"body is not UTF-8 (byte {exc.start})") from None
    screened = False
    if isinstance(data, str):
        text = data
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PayloadSyntaxError(
                f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        except RecursionError:
            raise PayloadSyntaxError(
                f"body is nested too deeply (at most {MAX_NESTING} levels of objects and arrays)"
            ) from None
        except ValueError:  # Python's limit on integer digits (4,300): no real field needs such a number
            raise PayloadSyntaxError("body has a number with more than 4,300 digits") from None
        screened = isinstance(data, dict) and not _may_need_walk(text, data)
    if not isinstance(data, Mapping):
        raise InvalidInput(
            "notification",
            [Problem("(body)", f"is a JSON {_json_kind(data)}", "a JSON object (one Causely notification)")],
        )
    problems, too_deep = ([], False) if screened else _intake_problems(data)
    if too_deep:  # never hand such a document to the validators
        raise InvalidInput("notification", problems)
    try:
        n = Notification.model_validate(dict(data))
    except ValidationError as exc:
        seen = {p.where for p in problems}
        raise InvalidInput("notification", [*problems, *_problems(exc, seen)][:MAX_PROBLEMS]) from None
    if problems:
        raise InvalidInput("notification", problems)
    return n


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
