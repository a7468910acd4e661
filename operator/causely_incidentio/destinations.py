"""Destination configuration: one validated model, built from a Secret, a custom resource or the environment.

Three sources describe the same thing (where to create incidents and how), so they all end in one frozen
:class:`DestinationConfig`. Builders collect every problem before raising, so a user fixes a Secret in one
round, and messages name keys, never values: a Secret's values are not echoed at all (a token pasted into
the wrong key must not reach a status or a log).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from causely_incidentio.filters import FilterSet, parse_filters
from causely_incidentio.payload import Notification
from causely_incidentio.problems import InvalidInput, Problem
from causely_incidentio.settings import DEFAULT_API_URL, Settings
from causely_incidentio.severities import ALLOWED_SEVERITIES, CauselySeverity
from causely_incidentio.severities import parse as parse_severity

NOTIF_LABEL = "causely.ai/notif-config"
NOTIF_TYPE = "IncidentIO"
API_VERSION = "notifications.causely.ai/v1alpha1"
KIND = "IncidentDestination"
DEFAULT_TOKEN_KEY = "token"
SOURCE_LABEL = "notifications.causely.ai/source"
"""Label on the IncidentDestinations the operator makes; ``Secret`` marks the mirror of a labelled Secret."""
MIRROR_SOURCE = "Secret"
TOKEN_OPT_IN_LABEL = "notifications.causely.ai/incident-io-token"
"""A Secret must carry this label (value "true") before an IncidentDestination's tokenSecretRef may read it."""
CAUSELY_TOKEN_KEY = "notif_config_token"
DEFAULT_NAMESPACE = "default"
"""Namespace assumed for documents without one (files in standalone mode), as ``kubectl`` would."""

Mode = Literal["standard", "test"]
Visibility = Literal["public", "private"]
SeverityRule = Literal["Critical", "Mapped"]
MODES: tuple[str, ...] = get_args(Mode)
VISIBILITIES: tuple[str, ...] = get_args(Visibility)
SEVERITY_RULES: tuple[str, ...] = get_args(SeverityRule)
DEFAULT_SEVERITY_RULE: SeverityRule = "Critical"
# IncidentDestination enum values are cased as Kubernetes' own (LabelSelector's In, NotIn); Causely's Secret
# format and the INCIDENT_IO_* variables keep their lower-case words.
SEVERITY_NAMES = {s.value: s.value for s in CauselySeverity}
SPEC_MODES = {"Standard": "standard", "Test": "test"}
SPEC_VISIBILITIES = {"Public": "public", "Private": "private"}
SPEC_OPERATORS = {"Equals": "equals", "NotEquals": "not_equals", "In": "in", "NotIn": "not_in"}

# Secret keys. The first seven are Causely's published ones; the rest are this operator's (documented in
# docs/configuration.md), each falling back to the matching INCIDENT_IO_* setting when absent or empty.
SECRET_KEYS: tuple[str, ...] = (
    "notif_config_name",
    "notif_config_type",
    "notif_config_token",
    "notif_config_url",
    "notif_config_global",
    "notif_config_filters",
    "notif_config_filters_enabled",
    "notif_config_incident_type_id",
    "notif_config_severity_id",
    "notif_config_severity_map",
    "notif_config_severity_rule",
    "notif_config_min_severity",
    "notif_config_resolved_status_name",
    "notif_config_notify_channel",
    "notif_config_mode",
    "notif_config_visibility",
)
SECRET_KEY_PREFIX = "notif_config_"

SPEC_FIELDS: tuple[str, ...] = (
    "tokenSecretRef",
    "incidentTypeID",
    "severityID",
    "severityMap",
    "severityRule",
    "minSeverity",
    "resolvedStatusName",
    "notifyChannel",
    "filters",
    "filtersEnabled",
    "mode",
    "visibility",
    "global",
    "apiURL",
)
RENAMED_FIELDS: dict[str, str] = {"incidentTypeId": "incidentTypeID", "severityId": "severityID", "apiUrl": "apiURL"}
"""v1alpha1 fields renamed by Kubernetes naming conventions; the old names are rejected, never ignored."""
LEGACY_MIRROR_FIELD = "causelySecretRef"
REMOVED_FIELDS: dict[str, str] = {
    LEGACY_MIRROR_FIELD: "was removed: a mirror of a Causely-format Secret is recognised by its owner "
    "reference, and an IncidentDestination written by hand names its API key with spec.tokenSecretRef",
}


class DestinationSource(StrEnum):
    """Where a destination was defined."""

    SECRET = "Secret"
    RESOURCE = "IncidentDestination"
    ENVIRONMENT = "Environment"


class SecretLookupError(LookupError):
    """Raised by a ``secret_lookup`` to say precisely why a token is missing (message without values)."""


SecretLookup = Callable[[str, str, str], "str | None"]
SecretGet = Callable[[str, str], "Mapping[str, Any] | None"]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DestinationConfig(BaseModel):
    """One incident.io destination, validated. ``fingerprint`` is always computed from the content."""

    model_config = ConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True)

    id: str = Field(description="Stable identity used in idempotency keys, e.g. secret/<ns>/<name>.")
    name: str = Field(description="Display name.")
    source: DestinationSource
    namespace: str | None = None
    token: SecretStr
    incident_type_id: str | None = None
    severity_id: str | None = None
    severity_map: dict[str, str] = Field(default_factory=dict)
    severity_rule: SeverityRule = DEFAULT_SEVERITY_RULE
    min_severity: CauselySeverity = CauselySeverity.HIGH
    resolved_status_name: str | None = None
    notify_channel: bool = False
    filters: FilterSet = Field(default_factory=FilterSet)
    mode: Mode = "standard"
    visibility: Visibility = "public"
    global_: bool = Field(False, alias="global")
    api_url: str | None = None
    generation: int | None = None
    fingerprint: str = ""

    @model_validator(mode="after")
    def _fingerprint(self) -> DestinationConfig:
        object.__setattr__(self, "fingerprint", compute_fingerprint(self))
        return self

    @property
    def token_digest(self) -> str:
        """sha256 of the token: a key for per-API-key state (rate limits) that does not hold the token."""
        return _sha256(self.token.get_secret_value())

    def accepts(self, n: Notification) -> bool:
        """Whether the filters pass ``n``; the severity threshold is the engine's decision."""
        return self.filters.matches(n)

    def evolve(self, **changes: Any) -> DestinationConfig:
        """A validated copy with ``changes`` (``model_copy`` would keep a stale fingerprint)."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update(changes)
        return type(self).model_validate(values)


def compute_fingerprint(config: DestinationConfig) -> str:
    """sha256 over every non-secret setting and a hash of the token, so a rotated token is detectable.

    ``generation`` is metadata, not a setting, and is left out.
    """
    settings = config.model_dump(mode="json", exclude={"token", "fingerprint", "generation"})
    material = json.dumps(
        {"settings": settings, "token_sha256": _sha256(config.token.get_secret_value())}, sort_keys=True
    )
    return _sha256(material)


# ---------------------------------------------------------------------------------------------------------
# Small validators that append a Problem instead of raising.


LOOPBACK_NAMES = frozenset({"localhost"})
URL_SHAPE = "an https base URL such as https://api.incident.io (http only for localhost, 127.0.0.0/8 or ::1)"


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_api_url(value: str) -> tuple[str | None, str]:
    """``(canonical URL, "")`` for an acceptable API base URL, else ``(None, what is wrong)``.

    https, or http to a loopback host only (the simulator); no user information, query or fragment. The
    canonical form (lower-case scheme and host, default port and trailing slash dropped) is what the
    allow-list compares.
    """
    value = value.strip()
    if any(c.isspace() or not c.isprintable() for c in value):
        # urllib drops tabs and newlines before parsing, httpx refuses them: what is checked is not what is sent.
        return None, "contains whitespace or control characters"
    if "?" in value or "#" in value:  # an empty query or fragment too: the client's paths would land in it
        return None, "must not have a query or fragment"
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError:
        return None, "is not a valid URL"
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in ("http", "https") or not host:
        return None, "is not an http(s) URL"
    if parts.username is not None or parts.password is not None:
        return None, "must not contain user information"
    if parts.query or parts.fragment:
        return None, "must not have a query or fragment"
    if scheme == "http" and not _is_loopback(host):
        return None, "uses http to a host that is not loopback (https is required)"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != (443 if scheme == "https" else 80):
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}", ""


def allowed_api_urls(settings: Settings, problems: list[Problem]) -> list[str]:
    """INCIDENT_IO_ALLOWED_API_URLS, canonical: the only API base URLs a destination may send its key to."""
    raw = getattr(settings, "incident_io_allowed_api_urls", DEFAULT_API_URL)
    allowed: list[str] = []
    for entry in (e.strip() for e in str(raw).split(",")):
        if not entry:
            continue
        canonical, what = normalise_api_url(entry)
        if canonical is None:
            problems.append(Problem("INCIDENT_IO_ALLOWED_API_URLS", f"entry {entry!r} {what}", URL_SHAPE))
        elif canonical not in allowed:
            allowed.append(canonical)
    if not allowed and not problems:
        problems.append(Problem("INCIDENT_IO_ALLOWED_API_URLS", "is empty", "at least " + DEFAULT_API_URL))
    return allowed


def _check_api_url(
    url: str | None, where: str, settings: Settings, problems: list[Problem], *, echo: bool
) -> str | None:
    """A destination's own URL (None: INCIDENT_IO_API_URL's) must be well formed and on the allow-list.

    Whoever writes a destination chooses where its API key is sent; the allow-list, set by whoever installs
    the operator, bounds that choice (a confused deputy otherwise: any Secret value to any server).
    """
    effective = url if url is not None else settings.incident_io_api_url
    if url is None:
        where, echo = "INCIDENT_IO_API_URL", True
    shown = f"{effective!r} " if echo else ""
    canonical, what = normalise_api_url(effective)
    if canonical is None:
        problems.append(Problem(where, f"{shown}{what}", URL_SHAPE))
        return None
    allowed = allowed_api_urls(settings, [])
    if canonical not in allowed:
        problems.append(
            Problem(
                where,
                f"{shown}is not an allowed incident.io API URL",
                "one of INCIDENT_IO_ALLOWED_API_URLS, set by whoever installs the operator: "
                + (", ".join(allowed) or "(none valid)"),
            )
        )
        return None
    return url


def _text_bool(value: str | None, where: str, problems: list[Problem]) -> bool | None:
    """Causely's booleans are the strings "true"/"false" (any case); anything else is a problem."""
    if value is None or not value.strip():
        return None
    word = value.strip().lower()
    if word in ("true", "false"):
        return word == "true"
    problems.append(Problem(where, "is not a boolean", '"true" or "false"'))
    return None


def _severity(value: Any, where: str, problems: list[Problem], *, echo: bool) -> CauselySeverity | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_severity(value)
    except ValueError:
        what = f"unknown severity {value!r}" if echo else "is not a Causely severity"
        problems.append(Problem(where, what, f"one of {ALLOWED_SEVERITIES}"))
        return None


def _choice(
    value: Any, choices: tuple[str, ...], where: str, problems: list[Problem], *, echo: bool
) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    what = f"{value!r} is not allowed" if echo else "is not an allowed value"
    problems.append(Problem(where, what, "one of " + ", ".join(choices)))
    return None


def _spec_enum(value: Any, choices: Mapping[str, str], where: str, problems: list[Problem]) -> str | None:
    """An IncidentDestination enum: exactly one of ``choices`` (the API server checks the same), mapped."""
    if value is None:
        return None
    if isinstance(value, str) and value in choices:
        return choices[value]
    expected = "one of " + ", ".join(choices)
    cased = next((c for c in choices if isinstance(value, str) and c.lower() == value.strip().lower()), None)
    if cased is not None:
        problems.append(Problem(where, f"{value!r} must be written {cased!r}", expected))
    else:
        problems.append(Problem(where, f"{value!r} is not allowed", expected))
    return None


def _severity_rule(value: Any, where: str, problems: list[Problem], *, strict: bool) -> SeverityRule | None:
    """``Critical`` or ``Mapped``; exact in an IncidentDestination, any case in a Secret or the environment."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if strict:
        found = _spec_enum(value, {r: r for r in SEVERITY_RULES}, where, problems)
    else:
        word = str(value).strip().lower()
        found = next((r for r in SEVERITY_RULES if r.lower() == word), None)
        if found is None:
            problems.append(Problem(where, "is not an allowed value", "one of " + ", ".join(SEVERITY_RULES)))
    return "Mapped" if found == "Mapped" else ("Critical" if found == "Critical" else None)


def _severity_map(raw: Any, where: str, problems: list[Problem]) -> dict[str, str]:
    """Keys are Causely severities (any case, normalised); values are incident.io severity names or ids."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(
            Problem(where, "is not an object", 'an object such as {"Critical": "Critical", "High": "Major"}')
        )
        return {}
    result: dict[str, str] = {}
    seen: set[CauselySeverity] = set()
    for key, value in raw.items():
        severity = _severity(key, f"{where}.{key}", problems, echo=False)
        if severity is None:
            continue
        if severity in seen:
            problems.append(
                Problem(f"{where}.{key}", f"maps {severity.value} a second time", "each severity once")
            )
            continue
        seen.add(severity)
        if not isinstance(value, str) or not value.strip():
            problems.append(
                Problem(f"{where}.{key}", "is not a non-empty string", "an incident.io severity name or id")
            )
            continue
        result[severity.value] = value.strip()
    return result


def _env_text(settings: Settings, name: str) -> str | None:
    """An optional INCIDENT_IO_* setting; tolerates settings that do not define it (yet)."""
    value = getattr(settings, name, None)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _env_fallbacks(settings: Settings, problems: list[Problem]) -> dict[str, Any]:
    """The INCIDENT_IO_* values used where a destination leaves a setting unset."""
    env_severity = _severity(
        _env_text(settings, "incident_io_min_severity"), "INCIDENT_IO_MIN_SEVERITY", problems, echo=True
    )
    env_mode = _choice(
        _env_text(settings, "incident_io_mode"), MODES, "INCIDENT_IO_MODE", problems, echo=True
    )
    env_visibility = _choice(
        _env_text(settings, "incident_io_visibility"),
        VISIBILITIES,
        "INCIDENT_IO_VISIBILITY",
        problems,
        echo=True,
    )
    env_rule = _severity_rule(
        _env_text(settings, "incident_io_severity_rule"), "INCIDENT_IO_SEVERITY_RULE", problems, strict=False
    )
    allowed_api_urls(settings, problems)
    return {
        "incident_type_id": _env_text(settings, "incident_io_incident_type_id"),
        "severity_id": _env_text(settings, "incident_io_severity_id"),
        "severity_rule": env_rule or DEFAULT_SEVERITY_RULE,
        "resolved_status_name": _env_text(settings, "incident_io_resolved_status_name"),
        "notify_channel": bool(getattr(settings, "incident_io_notify_channel", False)),
        "min_severity": env_severity or CauselySeverity.HIGH,
        "mode": env_mode or "standard",
        "visibility": env_visibility or "public",
    }


def _env_severity_id(env: Mapping[str, Any], severity_map: Mapping[str, str], rule: str | None) -> str | None:
    """INCIDENT_IO_SEVERITY_ID, unless the destination chose its severities itself (map or rule)."""
    return None if severity_map or rule else env["severity_id"]


def _build(subject: str, values: dict[str, Any]) -> DestinationConfig:
    """Construct the model; a failure here is a bug in a builder, reported without input values."""
    try:
        return DestinationConfig.model_validate(values)
    except ValidationError as exc:
        problems = [
            Problem(".".join(str(p) for p in e["loc"]) or "(config)", e["msg"])
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidInput(subject, problems) from None


# ---------------------------------------------------------------------------------------------------------
# Secrets


def _meta(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _ident(doc: Mapping[str, Any]) -> tuple[str, str | None]:
    meta = _meta(doc)
    namespace = meta.get("namespace")
    name = meta.get("name")
    return (
        namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE,
        name if isinstance(name, str) and name else None,
    )


def decode_secret_data(
    secret: Mapping[str, Any], *, keys: Iterable[str] | None = None
) -> tuple[dict[str, str], list[Problem]]:
    """A Secret's string values: base64 ``data`` overlaid by ``stringData``, which wins as on the API server.

    Only ``keys`` (default: every key) are decoded, so unrelated binary entries cannot cause problems.
    Problems name the key, never the value.
    """
    wanted = None if keys is None else set(keys)
    values: dict[str, str] = {}
    problems: list[Problem] = []
    data = secret.get("data")
    if data is not None and not isinstance(data, Mapping):
        problems.append(Problem("data", "is not an object", "a map of base64 strings"))
        data = None
    for key, raw in (data or {}).items():
        if wanted is not None and key not in wanted:
            continue
        if raw is None:
            values[key] = ""
            continue
        if not isinstance(raw, str):
            problems.append(Problem(f"data.{key}", "is not a base64 string", "a base64-encoded string"))
            continue
        try:
            values[key] = base64.b64decode(raw.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            problems.append(
                Problem(
                    f"data.{key}",
                    "is not valid base64-encoded UTF-8 text",
                    "base64 of a UTF-8 string (or put the plain text under stringData)",
                )
            )
    string_data = secret.get("stringData")
    if string_data is not None and not isinstance(string_data, Mapping):
        problems.append(Problem("stringData", "is not an object", "a map of strings"))
        string_data = None
    for key, raw in (string_data or {}).items():
        if wanted is not None and key not in wanted:
            continue
        if raw is None:
            values[key] = ""
        elif isinstance(raw, str):
            values[key] = raw
        else:
            problems.append(
                Problem(f"stringData.{key}", "is not a string", 'a string (quote it in YAML, e.g. "true")')
            )
    return values, problems


def _all_secret_keys(secret: Mapping[str, Any]) -> list[str]:
    keys: list[str] = []
    for part in ("data", "stringData"):
        section = secret.get(part)
        if isinstance(section, Mapping):
            keys.extend(str(k) for k in section if str(k) not in keys)
    return keys


def is_incidentio_secret(secret: Mapping[str, Any]) -> bool:
    """Carries the ``causely.ai/notif-config: IncidentIO`` label, the seed's selector."""
    labels = _meta(secret).get("labels")
    return isinstance(labels, Mapping) and labels.get(NOTIF_LABEL) == NOTIF_TYPE


def from_secret(secret: Mapping[str, Any], settings: Settings) -> DestinationConfig:
    """A destination from a Causely-format Secret (``notif_config_*`` keys); InvalidInput lists all."""
    namespace, name = _ident(secret)
    subject = f"Secret {namespace}/{name or '(unnamed)'}"
    problems: list[Problem] = []
    if name is None:
        problems.append(Problem("metadata.name", "is missing", "the Secret's name"))
    if secret.get("kind") not in (None, "Secret"):
        problems.append(Problem("kind", "is not Secret", "Secret"))
    if not is_incidentio_secret(secret):
        problems.append(
            Problem(
                f"metadata.labels.{NOTIF_LABEL}",
                "is missing or not IncidentIO",
                f"the label {NOTIF_LABEL}: {NOTIF_TYPE}",
            )
        )

    present = [k for k in _all_secret_keys(secret) if k.startswith(SECRET_KEY_PREFIX)]
    for key in present:
        if key not in SECRET_KEYS:
            problems.append(Problem(key, "unknown key", "one of " + ", ".join(SECRET_KEYS)))
    values, decode_problems = decode_secret_data(secret, keys=SECRET_KEYS)
    problems.extend(decode_problems)

    def text(key: str) -> str | None:
        value = values.get(key)
        return value.strip() if value is not None and value.strip() else None

    kind = text("notif_config_type")
    if kind is None:
        problems.append(Problem("notif_config_type", "is missing", NOTIF_TYPE))
    elif kind != NOTIF_TYPE:
        problems.append(Problem("notif_config_type", "names another integration", NOTIF_TYPE))
    display = text("notif_config_name")
    if display is None:
        problems.append(Problem("notif_config_name", "is missing or empty", "the destination's display name"))
    token = text("notif_config_token")
    if token is None:
        problems.append(Problem("notif_config_token", "is missing or empty", "the incident.io API key"))
    api_url = _check_api_url(text("notif_config_url"), "notif_config_url", settings, problems, echo=False)

    global_ = _text_bool(values.get("notif_config_global"), "notif_config_global", problems)
    filters_enabled = _text_bool(
        values.get("notif_config_filters_enabled"), "notif_config_filters_enabled", problems
    )
    notify = _text_bool(values.get("notif_config_notify_channel"), "notif_config_notify_channel", problems)
    try:
        filters = parse_filters(
            values.get("notif_config_filters"), enabled=bool(filters_enabled), where="notif_config_filters"
        )
    except InvalidInput as exc:
        problems.extend(exc.problems)
        filters = FilterSet()
    min_severity = _severity(
        values.get("notif_config_min_severity"), "notif_config_min_severity", problems, echo=False
    )
    severity_rule = _severity_rule(
        values.get("notif_config_severity_rule"), "notif_config_severity_rule", problems, strict=False
    )
    mode = _choice(values.get("notif_config_mode"), MODES, "notif_config_mode", problems, echo=False)
    visibility = _choice(
        values.get("notif_config_visibility"), VISIBILITIES, "notif_config_visibility", problems, echo=False
    )
    severity_map: dict[str, str] = {}
    raw_map = text("notif_config_severity_map")
    if raw_map is not None:
        try:
            severity_map = _severity_map(json.loads(raw_map), "notif_config_severity_map", problems)
        except json.JSONDecodeError as exc:
            problems.append(
                Problem(
                    "notif_config_severity_map",
                    f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                    'a JSON object such as {"Critical": "Critical", "High": "Major"}',
                )
            )
    env = _env_fallbacks(settings, problems)
    if problems:
        raise InvalidInput(subject, problems)
    return _build(
        subject,
        {
            "id": f"secret/{namespace}/{name}",
            "name": display,
            "source": DestinationSource.SECRET,
            "namespace": namespace,
            "token": SecretStr(token or ""),
            "incident_type_id": text("notif_config_incident_type_id") or env["incident_type_id"],
            "severity_id": text("notif_config_severity_id") or _env_severity_id(env, severity_map, severity_rule),
            "severity_map": severity_map,
            "severity_rule": severity_rule or env["severity_rule"],
            "min_severity": min_severity or env["min_severity"],
            "resolved_status_name": text("notif_config_resolved_status_name") or env["resolved_status_name"],
            "notify_channel": env["notify_channel"] if notify is None else notify,
            "filters": filters,
            "mode": mode or env["mode"],
            "visibility": visibility or env["visibility"],
            "global": bool(global_),
            "api_url": api_url,
            "generation": None,
        },
    )


# ---------------------------------------------------------------------------------------------------------
# IncidentDestination resources


def _spec_text(spec: Mapping[str, Any], key: str, problems: list[Problem]) -> str | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem(f"spec.{key}", "is not a string", "a string"))
        return None
    return value.strip() or None


def _spec_bool(spec: Mapping[str, Any], key: str, problems: list[Problem]) -> bool | None:
    value = spec.get(key)
    if value is None or isinstance(value, bool):
        return value
    problems.append(Problem(f"spec.{key}", "is not a boolean", "true or false"))
    return None


def token_from_secret(secret: Mapping[str, Any], key: str) -> str | None:
    """The value of ``key`` in a token Secret that opted in; None when the key is absent.

    An IncidentDestination may name any Secret of its namespace, so without an opt-in anyone allowed to
    write one could send a database password to incident.io as an API key. A Secret opts in with the label
    ``notifications.causely.ai/incident-io-token: "true"``; a Causely-format Secret (labelled
    ``causely.ai/notif-config: IncidentIO``) counts as opted in for its own ``notif_config_token``.
    """
    namespace, name = _ident(secret)
    labels = _meta(secret).get("labels")
    labels = labels if isinstance(labels, Mapping) else {}
    opted_in = labels.get(TOKEN_OPT_IN_LABEL) == "true" or (
        is_incidentio_secret(secret) and key == CAUSELY_TOKEN_KEY
    )
    if not opted_in:
        raise SecretLookupError(
            f"Secret {namespace}/{name} has not opted in to be read as an incident.io API key: label it "
            f'{TOKEN_OPT_IN_LABEL}="true"'
        )
    values, problems = decode_secret_data(secret, keys=[key])
    if problems:
        raise SecretLookupError(f"Secret {namespace}/{name}: key {key!r} is not valid base64-encoded text")
    return values.get(key)


def mirrored_secret(doc: Mapping[str, Any]) -> str | None:
    """The Secret an IncidentDestination mirrors, else None.

    A mirror carries the label ``notifications.causely.ai/source: Secret`` and a controller owner reference
    to the Secret of its own name (the one the operator set); nothing in ``spec`` says so, because spec is
    the user's. An object a user wrote, even with the same name as a labelled Secret, has no such owner.
    """
    meta = _meta(doc)
    labels = meta.get("labels")
    name = meta.get("name")
    if not isinstance(labels, Mapping) or labels.get(SOURCE_LABEL) != MIRROR_SOURCE or not name:
        return None
    owners = meta.get("ownerReferences")
    for owner in owners if isinstance(owners, list) else []:
        if (
            isinstance(owner, Mapping)
            and owner.get("apiVersion") == "v1"
            and owner.get("kind") == "Secret"
            and owner.get("name") == name
            and owner.get("controller") is True
        ):
            return str(name)
    return None


def _resolve_token(
    spec: Mapping[str, Any], namespace: str, lookup: SecretLookup, problems: list[Problem]
) -> str | None:
    ref = spec.get("tokenSecretRef")
    if ref is None:
        problems.append(
            Problem(
                "spec.tokenSecretRef",
                "is missing",
                "{name, key} of the Secret holding the incident.io API key",
            )
        )
        return None
    if not isinstance(ref, Mapping):
        problems.append(Problem("spec.tokenSecretRef", "is not an object", "{name, key}"))
        return None
    secret_name = ref.get("name")
    key = ref.get("key") or DEFAULT_TOKEN_KEY
    if not isinstance(secret_name, str) or not secret_name.strip():
        problems.append(
            Problem("spec.tokenSecretRef.name", "is missing", "the name of a Secret in this namespace")
        )
        return None
    if not isinstance(key, str):
        problems.append(Problem("spec.tokenSecretRef.key", "is not a string", "a key of the Secret"))
        return None
    try:
        token = lookup(namespace, secret_name, key)
    except SecretLookupError as exc:
        problems.append(Problem("spec.tokenSecretRef", str(exc)))
        return None
    if token is None:
        problems.append(
            Problem(
                "spec.tokenSecretRef",
                f"Secret {namespace}/{secret_name} has no key {key!r} (or does not exist)",
            )
        )
        return None
    if not token.strip():
        problems.append(
            Problem(
                "spec.tokenSecretRef",
                f"key {key!r} of Secret {namespace}/{secret_name} is empty",
                "the incident.io API key",
            )
        )
        return None
    return token.strip()


def _from_mirror(
    doc: Mapping[str, Any],
    secret_name: str,
    namespace: str,
    subject: str,
    secret_get: SecretGet | None,
    settings: Settings,
    problems: list[Problem],
) -> DestinationConfig:
    """A mirror is configured entirely by its Secret; anything in its spec is a mistake to report."""
    spec = doc.get("spec")
    for key, value in (spec.items() if isinstance(spec, Mapping) else []):
        legacy = key == LEGACY_MIRROR_FIELD and isinstance(value, Mapping) and value.get("name") == secret_name
        if not legacy:  # versions before v1alpha1's review wrote causelySecretRef; the operator removes it
            problems.append(
                Problem(
                    f"spec.{key}",
                    f"is set on the mirror of Secret {namespace}/{secret_name}, which is configured by that Secret",
                    "an empty spec (edit the Secret's notif_config_* keys instead)",
                )
            )
    secret: Mapping[str, Any] | None = None
    if secret_get is None:
        problems.append(Problem("metadata.ownerReferences", "names a Secret that cannot be read here"))
    else:
        secret = secret_get(namespace, secret_name)
        if secret is None:
            problems.append(Problem("metadata.ownerReferences", f"Secret {namespace}/{secret_name} not found"))
    if problems or secret is None:
        raise InvalidInput(subject, problems)
    return from_secret(secret, settings).evolve(generation=_generation(doc))


def _generation(doc: Mapping[str, Any]) -> int | None:
    value = _meta(doc).get("generation")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _spec_filters(raw: Any, enabled: bool, problems: list[Problem]) -> FilterSet:
    """spec.filters with Kubernetes-cased operators (Equals, NotEquals, In, NotIn), parsed as Causely's rules."""
    if raw is None:
        return FilterSet(enabled=enabled)
    if not isinstance(raw, list):
        problems.append(Problem("spec.filters", "is not a list", "a list of {field, operator, value|values}"))
        return FilterSet()
    reported: set[str] = set()
    rules: list[Any] = []
    for index, item in enumerate(raw):
        if isinstance(item, Mapping) and "operator" in item:
            where = f"spec.filters[{index}].operator"
            operator = _spec_enum(item["operator"], SPEC_OPERATORS, where, problems)
            if operator is None:
                reported.add(where)
                item = {k: v for k, v in item.items() if k != "operator"}
            else:
                item = {**item, "operator": operator}
        rules.append(item)
    try:
        return parse_filters(rules, enabled=enabled, where="spec.filters")
    except InvalidInput as exc:
        problems.extend(p for p in exc.problems if p.where not in reported)
    return FilterSet()


def from_resource(
    doc: Mapping[str, Any],
    *,
    secret_lookup: SecretLookup,
    secret_get: SecretGet | None = None,
    settings: Settings,
) -> DestinationConfig:
    """A destination from an ``IncidentDestination``; InvalidInput lists every problem.

    ``secret_lookup(namespace, name, key)`` returns the token (None, or raises SecretLookupError, when it
    is missing). A mirror of a labelled Secret (:func:`mirrored_secret`) is built from that Secret via
    ``secret_get(namespace, name)`` and keeps the Secret's identity. Unset fields fall back to the
    INCIDENT_IO_* settings, then to the built-in defaults (docs/configuration.md, "Precedence").
    """
    namespace, name = _ident(doc)
    subject = f"{KIND} {namespace}/{name or '(unnamed)'}"
    problems: list[Problem] = []
    if name is None:
        problems.append(Problem("metadata.name", "is missing", "the resource's name"))
    if doc.get("apiVersion") != API_VERSION:
        problems.append(Problem("apiVersion", f"is {doc.get('apiVersion')!r}", API_VERSION))
    if doc.get("kind") != KIND:
        problems.append(Problem("kind", f"is {doc.get('kind')!r}", KIND))
    mirrored = mirrored_secret(doc)
    if mirrored is not None:
        return _from_mirror(doc, mirrored, namespace, subject, secret_get, settings, problems)
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        problems.append(Problem("spec", "is missing or not an object", "the destination's settings"))
        raise InvalidInput(subject, problems)
    for key in spec:
        if key in RENAMED_FIELDS:
            problems.append(Problem(f"spec.{key}", f"was renamed to spec.{RENAMED_FIELDS[key]}"))
        elif key in REMOVED_FIELDS:
            problems.append(Problem(f"spec.{key}", REMOVED_FIELDS[key]))
        elif key not in SPEC_FIELDS:
            problems.append(Problem(f"spec.{key}", "unknown field", "one of " + ", ".join(SPEC_FIELDS)))

    token = _resolve_token(spec, namespace, secret_lookup, problems)
    incident_type_id = _spec_text(spec, "incidentTypeID", problems)
    severity_id = _spec_text(spec, "severityID", problems)
    resolved_status_name = _spec_text(spec, "resolvedStatusName", problems)
    api_url = _check_api_url(_spec_text(spec, "apiURL", problems), "spec.apiURL", settings, problems, echo=True)
    severity_map = _spec_severity_map(spec.get("severityMap"), problems)
    severity_rule = _severity_rule(spec.get("severityRule"), "spec.severityRule", problems, strict=True)
    if severity_id is not None and (spec.get("severityMap") or spec.get("severityRule")):
        problems.append(
            Problem(
                "spec.severityID",
                "fixes one severity for every incident, so it cannot be combined with spec.severityMap or "
                "spec.severityRule",
                "one of them",
            )
        )
    min_severity = _spec_severity(spec.get("minSeverity"), problems)
    notify = _spec_bool(spec, "notifyChannel", problems)
    filters_enabled = _spec_bool(spec, "filtersEnabled", problems)
    global_ = _spec_bool(spec, "global", problems)
    mode = _spec_enum(spec.get("mode"), SPEC_MODES, "spec.mode", problems)
    visibility = _spec_enum(spec.get("visibility"), SPEC_VISIBILITIES, "spec.visibility", problems)
    filters = _spec_filters(spec.get("filters"), True if filters_enabled is None else filters_enabled, problems)
    env = _env_fallbacks(settings, problems)
    if problems:
        raise InvalidInput(subject, problems)
    return _build(
        subject,
        {
            "id": f"incidentdestination/{namespace}/{name}",
            "name": name,
            "source": DestinationSource.RESOURCE,
            "namespace": namespace,
            "token": SecretStr(token or ""),
            "incident_type_id": incident_type_id or env["incident_type_id"],
            "severity_id": severity_id or _env_severity_id(env, severity_map, severity_rule),
            "severity_map": severity_map,
            "severity_rule": severity_rule or env["severity_rule"],
            "min_severity": min_severity or env["min_severity"],
            "resolved_status_name": resolved_status_name or env["resolved_status_name"],
            "notify_channel": env["notify_channel"] if notify is None else notify,
            "filters": filters,
            "mode": mode or env["mode"],
            "visibility": visibility or env["visibility"],
            "global": bool(global_),
            "api_url": api_url,
            "generation": _generation(doc),
        },
    )


def _spec_severity(value: Any, problems: list[Problem]) -> CauselySeverity | None:
    """spec.minSeverity: one of Critical, High, Medium, Low, exactly (the CRD's enum)."""
    found = _spec_enum(value, SEVERITY_NAMES, "spec.minSeverity", problems)
    return None if found is None else parse_severity(found)


def _spec_severity_map(raw: Any, problems: list[Problem]) -> dict[str, str]:
    """spec.severityMap: keys exactly Critical, High, Medium, Low (the CRD's rule); values as for Secrets."""
    if isinstance(raw, Mapping):
        for key in raw:
            _spec_enum(key, SEVERITY_NAMES, f"spec.severityMap.{key}", problems)
    return _severity_map(raw, "spec.severityMap", problems)


# ---------------------------------------------------------------------------------------------------------
# Environment


def from_env(settings: Settings) -> DestinationConfig | None:
    """The seed's default destination from INCIDENT_IO_* variables; None when no token is configured."""
    token = (settings.incident_io_api_token or "").strip()
    if not token:
        return None
    problems: list[Problem] = []
    env = _env_fallbacks(settings, problems)
    _check_api_url(None, "INCIDENT_IO_API_URL", settings, problems, echo=True)
    if problems:
        raise InvalidInput("environment", problems)
    return _build(
        "environment",
        {
            "id": "env",
            "name": "env",
            "source": DestinationSource.ENVIRONMENT,
            "namespace": None,
            "token": SecretStr(token),
            **env,
            "filters": FilterSet(),
            "api_url": None,
        },
    )

# ---------------------------------------------------------------------------------------------------------
# Files and whole sets of documents


def load_documents(path: str | Path) -> list[dict[str, Any]]:
    """Every object in a YAML file (multi-document) or a folder of *.yaml/*.yml/*.json files, sorted by name.

    ``kind: List`` documents (``kubectl get -o yaml``) are expanded. YAML and JSON errors name the file and
    line; the offending text is not quoted (it may be a token).
    """
    root = Path(path)
    if root.is_dir():
        files = sorted(
            p for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".yaml", ".yml", ".json")
        )
    elif root.is_file():
        files = [root]
    else:
        raise InvalidInput(
            str(root), [Problem(str(root), "does not exist", "a YAML or JSON file, or a folder of them")]
        )
    docs: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(str(file), "is not UTF-8 text", "a YAML or JSON file"))
            continue
        except OSError as exc:
            problems.append(Problem(str(file), f"cannot be read ({exc.strerror})"))
            continue
        loaded = _parse_file(file, text, problems)
        for index, item in enumerate(loaded, start=1):
            if item is None:
                continue
            if not isinstance(item, dict):
                problems.append(
                    Problem(
                        f"{file} (document {index})",
                        "is not an object",
                        "a Kubernetes object (apiVersion, kind, metadata, ...)",
                    )
                )
                continue
            if item.get("kind") == "List" and isinstance(item.get("items"), list):
                docs.extend(i for i in item["items"] if isinstance(i, dict))
            else:
                docs.append(item)
    if problems:
        raise InvalidInput(str(root), problems)
    return docs


def _parse_file(file: Path, text: str, problems: list[Problem]) -> list[Any]:
    if file.suffix.lower() == ".json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(Problem(f"{file}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}"))
            return []
        return value if isinstance(value, list) else [value]
    try:
        return list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(file)
        problems.append(Problem(where, f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"))
    except yaml.YAMLError:
        problems.append(Problem(str(file), "invalid YAML"))
    return []


@dataclass
class BuildResult:
    """Every destination found in a set of documents: the valid ones and the reasons for the others."""

    valid: list[DestinationConfig] = field(default_factory=list)
    invalid: list[InvalidInput] = field(default_factory=list)


class SecretIndex:
    """Secrets among a set of documents, for resolving ``tokenSecretRef`` and mirrors offline."""

    def __init__(self, docs: Iterable[Mapping[str, Any]]) -> None:
        self._secrets: dict[tuple[str, str], Mapping[str, Any]] = {}
        for doc in docs:
            if doc.get("kind") == "Secret":
                namespace, name = _ident(doc)
                if name is not None:
                    self._secrets[(namespace, name)] = doc

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._secrets.get((namespace, name))

    def lookup(self, namespace: str, name: str, key: str) -> str | None:
        secret = self.get(namespace, name)
        if secret is None:
            raise SecretLookupError(f"Secret {namespace}/{name} not found")
        value = token_from_secret(secret, key)
        if value is None:
            raise SecretLookupError(f"Secret {namespace}/{name} has no key {key!r}")
        return value


def _subject(doc: Mapping[str, Any]) -> str:
    namespace, name = _ident(doc)
    return f"{doc.get('kind')} {namespace}/{name or '(unnamed)'}"


def _looks_like_incidentio_secret(doc: Mapping[str, Any]) -> bool:
    """Unlabelled, but meant for us: reported (the operator would never see it) rather than ignored."""
    values, _ = decode_secret_data(doc, keys=["notif_config_type"])
    return values.get("notif_config_type", "").strip() == NOTIF_TYPE and not is_incidentio_secret(doc)


def build_destinations(
    docs: Iterable[Mapping[str, Any]], settings: Settings, *, secret_lookup: SecretLookup | None = None
) -> BuildResult:
    """Every destination in ``docs`` plus the environment's; one invalid destination never blocks the rest.

    Secrets labelled ``causely.ai/notif-config: IncidentIO`` and IncidentDestinations are built; token
    Secrets are looked up among the same documents unless ``secret_lookup`` is given; other documents are
    ignored. A second destination with an id already taken is reported invalid.
    """
    docs = list(docs)
    index = SecretIndex(docs)
    lookup: SecretLookup = secret_lookup or index.lookup
    result = BuildResult()
    seen: set[str] = set()

    def add(config: DestinationConfig, subject: str) -> None:
        if config.id in seen:
            result.invalid.append(
                InvalidInput(
                    subject,
                    [
                        Problem(
                            "metadata.name",
                            f"defines destination {config.id} a second time",
                            "one definition per destination",
                        )
                    ],
                )
            )
            return
        seen.add(config.id)
        result.valid.append(config)

    for doc in docs:
        kind = doc.get("kind")
        try:
            if kind == "Secret" and (is_incidentio_secret(doc) or _looks_like_incidentio_secret(doc)):
                add(from_secret(doc, settings), _subject(doc))
            elif kind == KIND:
                add(
                    from_resource(doc, secret_lookup=lookup, secret_get=index.get, settings=settings),
                    _subject(doc),
                )
        except InvalidInput as exc:
            result.invalid.append(exc)
    try:
        env = from_env(settings)
    except InvalidInput as exc:
        result.invalid.append(exc)
    else:
        if env is not None:
            add(env, "environment")
    return result
