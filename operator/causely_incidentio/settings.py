"""Every environment variable the product reads, typed and documented in one place.

Nothing else in the package reads ``os.environ``: code takes a :class:`Settings` (or the values in it), so
tests can build one from a plain dict and the documentation in ``docs/configuration.md`` has one source.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

DEFAULT_API_URL = "https://api.incident.io"

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def parse_bool(value: str | bool | None, default: bool = False) -> bool:
    """Causely's Secrets carry booleans as strings; accept the usual spellings, reject the rest."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"expected a boolean ('true' or 'false'), got {value!r}")


class Settings(BaseModel):
    """Process-wide settings. Field descriptions are the user's documentation."""

    incident_io_api_url: str = Field(
        DEFAULT_API_URL,
        description="INCIDENT_IO_API_URL: base URL of the incident.io API (the simulator's URL in tests).",
    )
    incident_io_allowed_api_urls: str = Field(
        DEFAULT_API_URL,
        description="INCIDENT_IO_ALLOWED_API_URLS: comma-separated incident.io API base URLs a destination may "
        "use (https; http only for loopback hosts). Every destination's URL must be one of them.",
    )
    incident_io_api_token: str | None = Field(
        None, repr=False, description="INCIDENT_IO_API_TOKEN: when set, defines the default destination 'env'."
    )
    incident_io_incident_type_id: str | None = Field(
        None,
        description="INCIDENT_IO_INCIDENT_TYPE_ID: incident type for new incidents (default: the org's default type).",
    )
    incident_io_severity_id: str | None = Field(
        None, description="INCIDENT_IO_SEVERITY_ID: a fixed incident.io severity id for every incident."
    )
    incident_io_severity_rule: str | None = Field(
        None, description="INCIDENT_IO_SEVERITY_RULE: 'Critical' (default, Causely's documented behaviour: "
        "every incident gets the severity named Critical) or 'Mapped' (same name, else by rank)."
    )
    incident_io_resolved_status_name: str | None = Field(
        None, description="INCIDENT_IO_RESOLVED_STATUS_NAME: status a cleared finding moves its incident to; "
        "unset means incidents are not auto-resolved."
    )
    incident_io_notify_channel: bool = Field(
        False, description="INCIDENT_IO_NOTIFY_CHANNEL: notify the incident's Slack channel on edits."
    )
    incident_io_min_severity: str | None = Field(
        None, description="INCIDENT_IO_MIN_SEVERITY: lowest Causely severity that opens an incident (default High)."
    )
    incident_io_mode: str | None = Field(
        None, description="INCIDENT_IO_MODE: 'standard' (default) or 'test' incidents."
    )
    incident_io_visibility: str | None = Field(
        None, description="INCIDENT_IO_VISIBILITY: 'public' (default) or 'private' incidents."
    )
    incident_io_rate_limit_capacity: int = Field(
        1200, description="INCIDENT_IO_RATE_LIMIT_CAPACITY: client-side token bucket size per API key."
    )
    incident_io_rate_limit_refill_per_second: float = Field(
        20.0, description="INCIDENT_IO_RATE_LIMIT_REFILL_PER_SECOND: client-side bucket refill rate per API key."
    )
    incident_io_connect_timeout: float = Field(5.0, description="INCIDENT_IO_CONNECT_TIMEOUT: seconds.")
    incident_io_read_timeout: float = Field(15.0, description="INCIDENT_IO_READ_TIMEOUT: seconds.")
    incident_io_retry_max_seconds: float = Field(
        120.0, description="INCIDENT_IO_RETRY_MAX_SECONDS: total time one call may spend retrying."
    )
    causely_receiver_token: str | None = Field(
        None, repr=False, description="CAUSELY_RECEIVER_TOKEN: the token Causely sends to the receiver."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(name.upper())
            if raw is None or raw == "":
                continue
            if name == "incident_io_notify_channel":
                values[name] = parse_bool(raw)
            else:
                values[name] = raw
        return cls.model_validate(values)
